// Thin checked wrappers over the HDF5 C API: RAII for every hid_t, and one check() whose
// message names the operation, the object, the file and HDF5's own reason.
#pragma once

#include <hdf5.h>

#include <string>
#include <utility>

namespace emsweep::h5 {

// Owns one HDF5 identifier and closes it with the matching H5*close.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), close_(o.close_) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      close_ = o.close_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  // The raw id, for C calls.
  [[nodiscard]] hid_t get() const { return id_; }
  [[nodiscard]] bool valid() const { return id_ >= 0; }
  // Closes now (errors ignored: used on error paths and in destructors).
  void reset() {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*close_)(hid_t) = nullptr;
};

// Turns off HDF5's automatic error printing (emsweep reports errors itself) and caps HDF5's
// internal free lists. The writer and the readers both call it.
void silence_errors();
// HDF5's innermost error message for the last failed call ("" if none); clears the error stack
// so that a later failure does not report this one.
[[nodiscard]] std::string last_error();

// Every HDF5 failure, written and read, becomes one StoreError: "cannot WHAT in FILE: reason".
// Throws it when `status` < 0; returns status otherwise.
herr_t check(herr_t status, const std::string& what, const std::string& file);
// The writer's form: WHAT is "OP OBJECT" (e.g. "append to" "/points").
herr_t check(herr_t status, const char* op, const std::string& object, const std::string& file);
// Returns `id` when valid, else throws as check() does.
hid_t check_id(hid_t id, const std::string& what, const std::string& file);
// Checks `id` and wraps it in a Handle closed by `close`.
[[nodiscard]] Handle own(hid_t id, herr_t (*close)(hid_t), const char* op,
                         const std::string& object, const std::string& file);
[[nodiscard]] Handle own(hid_t id, herr_t (*close)(hid_t), const std::string& what,
                         const std::string& file);
// The same for each kind of handle.
[[nodiscard]] Handle own_file(hid_t id, const std::string& what, const std::string& file);
[[nodiscard]] Handle own_dataset(hid_t id, const std::string& what, const std::string& file);
[[nodiscard]] Handle own_type(hid_t id, const std::string& what, const std::string& file);
[[nodiscard]] Handle own_space(hid_t id, const std::string& what, const std::string& file);
[[nodiscard]] Handle own_attribute(hid_t id, const std::string& what, const std::string& file);
[[nodiscard]] Handle own_plist(hid_t id, const std::string& what, const std::string& file);

// The HDF5 library version, e.g. "1.10.8".
[[nodiscard]] std::string library_version();

}  // namespace emsweep::h5
