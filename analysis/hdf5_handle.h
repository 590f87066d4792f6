// RAII ownership of HDF5 C handles (hid_t) and one checked wrapper for HDF5 calls, for the
// analysis readers. Every failure becomes a StoreError naming the operation, the object, the
// file and HDF5's own innermost message.
#pragma once

#include <hdf5.h>

#include <string>
#include <utility>

namespace emsweep::analysis {

// Owns one hid_t and closes it with the matching H5?close function.
class H5Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Handle() = default;
  H5Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  H5Handle(H5Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), close_(o.close_) {}
  H5Handle& operator=(H5Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      close_ = o.close_;
    }
    return *this;
  }
  ~H5Handle() { reset(); }

  // The handle, still owned.
  [[nodiscard]] hid_t get() const { return id_; }
  // Whether a handle is held.
  [[nodiscard]] bool valid() const { return id_ >= 0; }
  // Closes the handle now (errors on close are ignored: nothing can be done about them).
  void reset() {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

// Turns off HDF5's automatic printing of error stacks (errors are reported as exceptions).
void quiet_hdf5_errors();

// HDF5's innermost error message on the current error stack (then clears it), or "".
[[nodiscard]] std::string hdf5_error_text();

// Returns `id` when valid; otherwise throws StoreError "cannot WHAT in FILE: <hdf5 text>".
hid_t check_id(hid_t id, const std::string& what, const std::string& file);
// Throws StoreError like check_id when `status` < 0.
void check_status(herr_t status, const std::string& what, const std::string& file);

// Owning wrappers for the common kinds of handle; each checks the id.
[[nodiscard]] H5Handle own_file(hid_t id, const std::string& what, const std::string& file);
[[nodiscard]] H5Handle own_dataset(hid_t id, const std::string& what, const std::string& file);
[[nodiscard]] H5Handle own_type(hid_t id, const std::string& what, const std::string& file);
[[nodiscard]] H5Handle own_space(hid_t id, const std::string& what, const std::string& file);
[[nodiscard]] H5Handle own_attribute(hid_t id, const std::string& what, const std::string& file);
[[nodiscard]] H5Handle own_plist(hid_t id, const std::string& what, const std::string& file);

}  // namespace emsweep::analysis
