// The LibTorch version linked into emsweep-run, for the results file's provenance.
#include <torch/version.h>

#include <string>

namespace emsweep {

// "1.13.1", from the LibTorch headers this binary was built against.
std::string libtorch_version() { return TORCH_VERSION; }

}  // namespace emsweep
