// Choosing and grouping rows of /points: `--where` conditions (`domain_mix=0`, `kl_weight>0`)
// and grouping by axis values, shared by summary, plot, report and export.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "analysis/results.h"

namespace emsweep::analysis {

// A column of /points that a name on the command line refers to: an axis, the replicate
// axis (or `replicate`), or a metric.
class ColumnRef {
 public:
  // Resolves `name` in `r`; throws ConfigError with a did-you-mean for an unknown name.
  ColumnRef(const Results& r, const std::string& name);

  [[nodiscard]] const std::string& name() const { return name_; }
  // Whether values are numbers (everything but text axes).
  [[nodiscard]] bool numeric() const { return numeric_; }
  // Whether the column is an axis (or the replicate axis).
  [[nodiscard]] bool is_axis() const { return axis_ != nullptr || replicate_; }
  // The row's value as a number (NaN for text).
  [[nodiscard]] double number(std::size_t row) const;
  // The row's value as a person reads it.
  [[nodiscard]] std::string display(std::size_t row) const;

 private:
  const Results* r_ = nullptr;
  std::string name_;
  const AxisColumn* axis_ = nullptr;
  bool replicate_ = false;
  int metric_ = -1;
  bool numeric_ = true;
};

// One condition on a column.
struct Filter {
  enum class Op { kEq, kNe, kLt, kLe, kGt, kGe };
  std::string column;
  Op op = Op::kEq;
  std::string value;
  std::string text;  // as written, for titles and messages
};

// Parses `kl_weight=0`, `gate_noise>=0.2`, `kind!=x`; a text may hold several, comma-separated.
// Throws ConfigError for text that is not a condition.
[[nodiscard]] std::vector<Filter> parse_filters(const std::vector<std::string>& texts);

// Rows of `r` (done and failed) matching every filter, in file order.
// Throws ConfigError for unknown columns or a non-number compared with a number column.
[[nodiscard]] std::vector<std::size_t> select_rows(const Results& r,
                                                   const std::vector<Filter>& filters);

// Whether row `row` matches every filter.
[[nodiscard]] bool row_matches(const Results& r, const std::vector<Filter>& filters,
                               std::size_t row);

// Rows that share one value of each grouping column.
struct Group {
  std::vector<std::string> key;  // display values, one per grouping column
  std::vector<double> key_num;   // numeric values (NaN for text), one per grouping column
  std::vector<std::size_t> rows;
};

// Groups `rows` by the columns `by`, sorted by value (numbers numerically, text by text).
[[nodiscard]] std::vector<Group> group_rows(const Results& r, const std::vector<std::string>& by,
                                            const std::vector<std::size_t>& rows);

// Names of the non-replicate axes (the default grouping).
[[nodiscard]] std::vector<std::string> default_axes(const Results& r);

// Splits comma-separated lists ("a,b" "c" -> a, b, c), dropping empty items.
[[nodiscard]] std::vector<std::string> split_list(const std::vector<std::string>& texts);

// Distinct values of axis/column `name` among `rows`, sorted as group_rows sorts them.
[[nodiscard]] std::vector<Group> distinct_values(const Results& r, const std::string& name,
                                                 const std::vector<std::size_t>& rows);

}  // namespace emsweep::analysis
