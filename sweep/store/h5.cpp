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
  H5Eclear2(H5E_DEFAULT);
  return text;
}

herr_t check(herr_t status, const std::string& what, const std::string& file) {
  if (status < 0) {
    std::string why = last_error();
    throw StoreError("cannot " + what + " in " + file + (why.empty() ? "" : ": " + why));
  }
  return status;
}

herr_t check(herr_t status, const char* op, const std::string& object, const std::string& file) {
  return check(status, std::string(op) + " " + object, file);
}

hid_t check_id(hid_t id, const std::string& what, const std::string& file) {
  if (id < 0) check(-1, what, file);
  return id;
}

Handle own(hid_t id, herr_t (*close)(hid_t), const char* op, const std::string& object,
           const std::string& file) {
  return own(id, close, std::string(op) + " " + object, file);
}

Handle own(hid_t id, herr_t (*close)(hid_t), const std::string& what, const std::string& file) {
  return Handle(check_id(id, what, file), close);
}

Handle own_file(hid_t id, const std::string& what, const std::string& file) {
  return own(id, H5Fclose, what, file);
}
Handle own_dataset(hid_t id, const std::string& what, const std::string& file) {
  return own(id, H5Dclose, what, file);
}
Handle own_type(hid_t id, const std::string& what, const std::string& file) {
  return own(id, H5Tclose, what, file);
}
Handle own_space(hid_t id, const std::string& what, const std::string& file) {
  return own(id, H5Sclose, what, file);
}
Handle own_attribute(hid_t id, const std::string& what, const std::string& file) {
  return own(id, H5Aclose, what, file);
}
Handle own_plist(hid_t id, const std::string& what, const std::string& file) {
  return own(id, H5Pclose, what, file);
}

std::string library_version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

}  // namespace emsweep::h5
