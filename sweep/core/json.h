// A minimal streaming JSON writer for the `--json` outputs of the command-line tools.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace emsweep {

class JsonWriter {
 public:
  // Opens an object or array; `key` is used when inside an object.
  JsonWriter& begin_object(const std::string& key = {});
  JsonWriter& end_object();
  JsonWriter& begin_array(const std::string& key = {});
  JsonWriter& end_array();
  // Writes a member (inside an object) or an element (inside an array, key empty).
  JsonWriter& value(const std::string& key, const std::string& v);
  JsonWriter& value(const std::string& key, const char* v);
  JsonWriter& value(const std::string& key, double v);  // NaN/inf become null
  JsonWriter& value(const std::string& key, std::int64_t v);
  JsonWriter& value(const std::string& key, std::uint64_t v);
  JsonWriter& value(const std::string& key, int v) { return value(key, std::int64_t{v}); }
  JsonWriter& value(const std::string& key, bool v);
  JsonWriter& null(const std::string& key);
  // Writes pre-formatted JSON text as a member or element.
  JsonWriter& raw(const std::string& key, const std::string& json);
  // The document so far.
  [[nodiscard]] const std::string& str() const { return out_; }

  // `s` as a quoted JSON string.
  [[nodiscard]] static std::string quote(const std::string& s);

 private:
  void prefix(const std::string& key);
  std::string out_;
  std::vector<bool> first_;  // per open container: no element written yet
};

}  // namespace emsweep
