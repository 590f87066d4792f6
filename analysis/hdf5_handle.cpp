#include "analysis/hdf5_handle.h"

#include <vector>

#include "sweep/core/error.h"

namespace emsweep::analysis {
namespace {

herr_t collect_error(unsigned /*n*/, const H5E_error2_t* err, void* data) {
  auto* out = static_cast<std::vector<std::string>*>(data);
  if (err != nullptr && err->desc != nullptr) out->emplace_back(err->desc);
  return 0;
}

H5Handle own(hid_t id, H5Handle::Closer close, const std::string& what, const std::string& file) {
  return H5Handle(check_id(id, what, file), close);
}

}  // namespace

void quiet_hdf5_errors() {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

std::string hdf5_error_text() {
  std::vector<std::string> messages;
  // Upward: the most specific error (where HDF5 detected it) comes first.
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect_error, &messages);
  H5Eclear2(H5E_DEFAULT);
  return messages.empty() ? std::string{} : messages.front();
}

hid_t check_id(hid_t id, const std::string& what, const std::string& file) {
  if (id >= 0) return id;
  std::string detail = hdf5_error_text();
  throw StoreError("cannot " + what + " in " + file + (detail.empty() ? "" : ": " + detail));
}

void check_status(herr_t status, const std::string& what, const std::string& file) {
  if (status >= 0) return;
  std::string detail = hdf5_error_text();
  throw StoreError("cannot " + what + " in " + file + (detail.empty() ? "" : ": " + detail));
}

H5Handle own_file(hid_t id, const std::string& what, const std::string& file) {
  return own(id, H5Fclose, what, file);
}
H5Handle own_dataset(hid_t id, const std::string& what, const std::string& file) {
  return own(id, H5Dclose, what, file);
}
H5Handle own_type(hid_t id, const std::string& what, const std::string& file) {
  return own(id, H5Tclose, what, file);
}
H5Handle own_space(hid_t id, const std::string& what, const std::string& file) {
  return own(id, H5Sclose, what, file);
}
H5Handle own_attribute(hid_t id, const std::string& what, const std::string& file) {
  return own(id, H5Aclose, what, file);
}
H5Handle own_plist(hid_t id, const std::string& what, const std::string& file) {
  return own(id, H5Pclose, what, file);
}

}  // namespace emsweep::analysis
