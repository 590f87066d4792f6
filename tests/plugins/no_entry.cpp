// A shared library without EMSWEEP_KIND_PLUGIN's entry points (test_plugin: refused).
extern "C" __attribute__((visibility("default"))) int not_a_plugin() { return 1; }
