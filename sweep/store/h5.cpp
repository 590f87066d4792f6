#include "sweep/store/h5.h"

#include "sweep/core/error.h"

namespace emsweep::h5 {
namespace {

herr_t innermost(unsigned n, const H5E_error2_t* e, void* out) {
  auto* text = static_cast<std::string*>(out);
  if (n == 0 && e->desc != nullptr) *text = e->desc;
  return 0;
}

}  // namespace

void silence_errors() {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  // Cap HDF5's internal free lists (by default they keep every freed block for reuse, which
  // grows with the number of appends in a long sweep): 1 MiB per list kind, 4 MiB in all.
  H5set_free_list_limits(4 << 20, 1 << 20, 4 << 20, 1 << 20, 4 << 20, 1 << 20);
}

std::string last_error() {
  std::string text;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, &text);
  return text;
}

herr_t check(herr_t status, const char* op, const std::string& object, const std::string& file) {
  if (status < 0) {
    std::string why = last_error();
    throw StoreError(std::string(op) + " " + object + " in " + file + " failed" +
                     (why.empty() ? "" : ": " + why));
  }
  return status;
}

Handle own(hid_t id, herr_t (*close)(hid_t), const char* op, const std::string& object,
           const std::string& file) {
  if (id < 0) check(-1, op, object, file);
  return Handle(id, close);
}

std::string library_version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

}  // namespace emsweep::h5
