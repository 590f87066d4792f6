// Writing the embedded Python helper out for children (see python_helper.h).
#include "worker/command/python_helper.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include "sweep/core/error.h"

namespace emsweep::command {

std::string install_python_helper(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path target = fs::path(dir) / kPythonHelperFile;
  {
    std::ifstream in(target, std::ios::binary);
    if (in) {
      const std::string have((std::istreambuf_iterator<char>(in)), {});
      if (have == kPythonHelperSource) return dir;
    }
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    throw EnvironmentError("cannot create " + dir + " for the Python helper: " + ec.message());
  }
  const fs::path tmp = target.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(kPythonHelperSource.data(), static_cast<std::streamsize>(kPythonHelperSource.size()));
    out.close();
    if (!out) {
      const std::string why = std::strerror(errno);
      fs::remove(tmp, ec);
      throw EnvironmentError("cannot write the Python helper " + tmp.string() + ": " + why);
    }
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    const std::string why = ec.message();
    fs::remove(tmp, ec);
    throw EnvironmentError("cannot install the Python helper as " + target.string() + ": " + why);
  }
  return dir;
}

}  // namespace emsweep::command
