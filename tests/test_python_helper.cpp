// The Python helper compiled into emsweep: what install_python_helper writes is the module in
// the source tree, byte for byte; a second install leaves it alone; an unwritable directory is
// an error naming it; and a Python child imports the installed copy through PYTHONPATH.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "worker/command/python_helper.h"
#include "sweep/core/error.h"

using namespace emsweep;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("emsweep-helper-" + std::to_string(::getpid()));
  TempDir() { fs::remove_all(path); }
  ~TempDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("the embedded helper is the module in the source tree", "[python_helper]") {
  const std::string source = slurp(EMSWEEP_SOURCE_DIR "/worker/command/python/emsweep_child.py");
  REQUIRE_FALSE(source.empty());
  CHECK(command::kPythonHelperSource == source);
}

TEST_CASE("install_python_helper writes the module once, atomically", "[python_helper]") {
  TempDir tmp;
  const std::string dir = (tmp.path / "runs" / "python").string();
  CHECK(command::install_python_helper(dir) == dir);
  const fs::path module = fs::path(dir) / "emsweep_child.py";
  CHECK(slurp(module) == command::kPythonHelperSource);
  const auto written = fs::last_write_time(module);
  CHECK(command::install_python_helper(dir) == dir);  // identical: left alone
  CHECK(fs::last_write_time(module) == written);
  std::ofstream(module) << "stale";  // a copy from another build is replaced
  CHECK(command::install_python_helper(dir) == dir);
  CHECK(slurp(module) == command::kPythonHelperSource);
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}) == 1);  // no temp file
}

TEST_CASE("install_python_helper says which directory it cannot use", "[python_helper]") {
  TempDir tmp;
  fs::create_directories(tmp.path);
  std::ofstream(tmp.path / "file") << "not a directory";
  const std::string dir = (tmp.path / "file" / "python").string();
  CHECK_THROWS_WITH(command::install_python_helper(dir),
                    Catch::StartsWith("cannot create " + dir + " for the Python helper: "));
}

#ifdef EMSWEEP_PYTHON
TEST_CASE("a Python child imports the installed helper", "[python_helper][python]") {
  TempDir tmp;
  const std::string dir = command::install_python_helper((tmp.path / "python").string());
  const std::string command = "cd / && env -u EMSWEEP_PARAMS PYTHONPATH='" + dir +
                              "' " EMSWEEP_PYTHON
                              " -c 'import emsweep_child as es; assert es.params({\"a\": 1}) == "
                              "{\"a\": 1}; assert es.__file__.startswith(\"" +
                              dir + "\")'";
  CHECK(std::system(command.c_str()) == 0);
}
#endif
