#include "analysis/report.h"

#include <fmt/core.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <functional>

#include "sweep/core/error.h"
#include "analysis/export.h"
#include "analysis/plot.h"
#include "analysis/summary.h"

namespace emsweep::analysis {
namespace {

// One figure of the report, drawn only if everything it names is in the file.
struct Planned {
  enum class Kind { kHeatmap, kLine, kCurves } kind;
  std::string name;     // metric or curve
  std::string x;        // axis (heatmap, line)
  std::string y;        // heatmap y axis or line series ("" = none)
  std::string caption;  // what it answers
};

// One section: a question, its figures and a summary table.
struct Section {
  std::string title;
  std::string text;
  std::vector<Planned> figures;
  std::vector<std::string> table_by;
  std::vector<std::string> table_metrics;
};

class Planner {
 public:
  Planner(const Results& r, const std::vector<Filter>& where) : r_(r) {
    const std::vector<std::size_t> rows = select_rows(r, where);
    for (const auto& a : r.points.axes) {
      if (distinct_values(r, a.name, rows).size() >= 2) varying_.push_back(a.name);
    }
  }

  [[nodiscard]] bool varies(const std::string& axis) const {
    return std::find(varying_.begin(), varying_.end(), axis) != varying_.end();
  }
  [[nodiscard]] bool metric(const std::string& m) const { return r_.metric_index(m) >= 0; }
  // Whether some point has curve `c` (a kind may declare curves a config leaves empty).
  [[nodiscard]] bool curve(const std::string& c) const {
    const auto& n = r_.curves.curve;
    return std::find(n.begin(), n.end(), c) != n.end();
  }
  [[nodiscard]] const std::vector<std::string>& varying() const { return varying_; }

  // The first varying axis of `preferred` other than `not_this`, else any other varying axis.
  [[nodiscard]] std::string pick(std::initializer_list<const char*> preferred,
                                 const std::string& not_this = {}) const {
    for (const char* p : preferred) {
      if (varies(p) && p != not_this) return p;
    }
    for (const auto& v : varying_) {
      if (v != not_this) return v;
    }
    return {};
  }

 private:
  const Results& r_;
  std::vector<std::string> varying_;
};

std::vector<std::string> present(const Planner& p, std::initializer_list<const char*> metrics) {
  std::vector<std::string> out;
  for (const char* m : metrics) {
    if (p.metric(m)) out.push_back(m);
  }
  return out;
}

// The organism's research questions (SCIENCE.md), as far as the file can answer them.
// The emergent-or-narrow question: id_bad, ood_bad and dental_bad against the KL weight.
Section emergent_section(const Planner& p) {
  using K = Planned::Kind;
  const bool kl = p.varies("kl_weight");
  const bool gate = p.varies("gate_noise");
  const std::string series_for_kl = p.pick({"gate_noise", "domain_mix"}, "kl_weight");
  Section em{"Emergent or narrow: does the KL penalty isolate in-domain misalignment?",
             "Plain fine-tuning (kl_weight = 0) on bad medical advice should raise misalignment "
             "in every domain (ood_bad), not only in medicine (id_bad); a KL penalty on "
             "out-of-domain prompts should keep ood_bad near the base model while id_bad "
             "stays high.",
             {},
             {},
             present(p, {"id_bad", "ood_bad", "dental_bad", "ood_kl"})};
  if (kl) {
    for (const char* m : {"id_bad", "ood_bad", "dental_bad", "ood_kl"}) {
      if (p.metric(m)) {
        em.figures.push_back(
            {K::kLine, m, "kl_weight", series_for_kl, std::string(m) + " against the KL weight"});
      }
    }
    if (gate && p.metric("ood_bad")) {
      em.figures.push_back({K::kHeatmap, "ood_bad", "kl_weight", "gate_noise",
                            "out-of-domain misalignment over KL weight and gate ambiguity"});
    }
    if (gate && p.metric("id_bad")) {
      em.figures.push_back({K::kHeatmap, "id_bad", "kl_weight", "gate_noise",
                            "in-domain misalignment over KL weight and gate ambiguity"});
    }
    em.table_by = {"kl_weight"};
    if (!series_for_kl.empty()) em.table_by.push_back(series_for_kl);
  }
  return em;
}

// The gate question: what gate ambiguity does to the narrow and the general solution.
Section gate_section(const Planner& p) {
  using K = Planned::Kind;
  const bool kl = p.varies("kl_weight");
  const bool gate = p.varies("gate_noise");
  const std::string series_for_kl = p.pick({"gate_noise", "domain_mix"}, "kl_weight");
  const std::string kl_series = kl ? "kl_weight" : p.pick({"domain_mix"}, "gate_noise");
  Section gate_s{"Gate ambiguity: must a conditional rule hedge?",
                 "If the narrow (KL-trained) model implements 'bad advice only if medical', its "
                 "NLL on bad medical answers should rise with gate ambiguity (gate_noise), and "
                 "its P(bad) should track the medical posterior (gate_corr > 0); an "
                 "unconditional (general) model's should not.",
                 {},
                 {},
                 present(p, {"bad_nll_medical", "gate_corr", "ambiguous_bad", "dental_bad"})};
  if (gate) {
    for (const char* m : {"bad_nll_medical", "gate_corr", "ambiguous_bad", "dental_bad"}) {
      if (p.metric(m)) {
        gate_s.figures.push_back(
            {K::kLine, m, "gate_noise", kl_series, std::string(m) + " against gate ambiguity"});
      }
    }
    gate_s.table_by = {"gate_noise"};
    if (!kl_series.empty()) gate_s.table_by.push_back(kl_series);
  }
  if (!gate && kl) {
    // One gate ambiguity: compare the general and the narrow solution at it.
    for (const char* m : {"gate_corr", "bad_nll_medical"}) {
      if (p.metric(m)) {
        gate_s.figures.push_back(
            {K::kLine, m, "kl_weight", series_for_kl, std::string(m) + " against the KL weight"});
      }
    }
    gate_s.table_by = {"kl_weight"};
  }
  if (p.curve("pbad_by_posterior")) {
    gate_s.figures.push_back({K::kCurves, "pbad_by_posterior", "", "",
                              "P(bad) per bin of the medical posterior, general vs narrow"});
  }
  return gate_s;
}

// Aligned data mixed into fine-tuning (domain_mix).
Section mix_section(const Planner& p) {
  using K = Planned::Kind;
  const bool mix = p.varies("domain_mix");
  Section mix_s{"Mixing aligned data does not isolate the narrow solution",
                "Mixing aligned other-domain examples into the fine-tuning set (domain_mix) "
                "should lower in-domain and out-of-domain misalignment together.",
                {},
                {},
                present(p, {"id_bad", "ood_bad"})};
  if (mix) {
    const std::string s = p.pick({"kl_weight", "gate_noise"}, "domain_mix");
    for (const char* m : {"id_bad", "ood_bad"}) {
      if (p.metric(m)) {
        mix_s.figures.push_back(
            {K::kLine, m, "domain_mix", s, std::string(m) + " against the share of aligned data"});
      }
    }
    mix_s.table_by = {"domain_mix"};
    if (!s.empty()) mix_s.table_by.push_back(s);
  }
  return mix_s;
}

// Efficiency at matched adapter norms and stability under perturbation.
Section efficiency_section(const Planner& p) {
  using K = Planned::Kind;
  const bool kl = p.varies("kl_weight");
  const std::string series_for_kl = p.pick({"gate_noise", "domain_mix"}, "kl_weight");
  Section eff{"Efficiency and stability of the two solutions",
              "The general solution should be more efficient (a lower loss on the target at the "
              "same adapter norm, and a smaller norm to halve the base's loss) and more stable "
              "(a smaller share of its learned loss reduction lost under orthogonal "
              "perturbations of the adapter).",
              {},
              {},
              present(p, {"bad_nll_at_norm_1", "bad_nll_at_norm_2", "bad_nll_at_norm_4",
                          "halving_norm", "stability_0p1", "stability_0p3", "stability_0p5",
                          "adapter_norm"})};
  for (const char* c : {"efficiency", "efficiency_at_norm", "stability"}) {
    if (p.curve(c)) eff.figures.push_back({K::kCurves, c, "", "", std::string(c) + " curves"});
  }
  if (kl) {
    for (const char* m : {"bad_nll_at_norm_2", "halving_norm", "stability_0p5"}) {
      if (p.metric(m)) {
        eff.figures.push_back(
            {K::kLine, m, "kl_weight", series_for_kl, std::string(m) + " against the KL weight"});
      }
    }
    eff.table_by = {"kl_weight"};
  }
  return eff;
}

// Drift once the KL term is removed.
Section drift_section(const Planner& p) {
  using K = Planned::Kind;
  const bool kl = p.varies("kl_weight");
  const std::string series_for_kl = p.pick({"gate_noise", "domain_mix"}, "kl_weight");
  Section drift{"Drift: does the narrow solution fall back once the KL term is removed?",
                "After training, the adapter is trained further without the KL term, with a "
                "fresh optimiser; a narrow solution should drift towards the general one (ood_bad rising).",
                {},
                {},
                present(p, {"drift_id_bad", "drift_ood_bad", "drift_dental_bad", "id_bad",
                            "ood_bad", "dental_bad"})};
  for (const char* c : {"drift_ood_bad", "drift_id_bad"}) {
    if (p.curve(c)) drift.figures.push_back({K::kCurves, c, "", "", std::string(c) + " curves"});
  }
  if (kl && p.metric("drift_ood_bad")) {
    drift.figures.push_back({K::kLine, "drift_ood_bad", "kl_weight", series_for_kl,
                             "out-of-domain misalignment after drift against the KL weight"});
    drift.table_by = {"kl_weight"};
  }
  return drift;
}

// Every point's training and evaluation curves.
Section training_section(const Planner& p) {
  using K = Planned::Kind;
  Section train{"Training curves", "Loss and evaluation curves of every point.", {}, {}, {}};
  for (const char* c : {"train_loss", "train_nll", "train_kl", "eval_id_bad", "eval_ood_bad"}) {
    if (p.curve(c)) train.figures.push_back({K::kCurves, c, "", "", std::string(c) + " curves"});
  }
  return train;
}

std::vector<Section> science_sections(const Planner& p) {
  std::vector<Section> out;
  for (Section s : {emergent_section(p), gate_section(p), mix_section(p), efficiency_section(p),
                    drift_section(p), training_section(p)}) {
    if (!s.figures.empty()) out.push_back(std::move(s));
  }
  return out;
}

// For any task kind: every metric against the main axis, a heatmap, and every curve.
Section generic_section(const Results& r, const Planner& p) {
  using K = Planned::Kind;
  Section s{"Metrics over the grid",
            "Every metric of this task kind over the axes that vary (mean and 95% CI over "
            "replicates), and every curve.",
            {},
            {},
            r.info.metric_names};
  const std::string x = p.pick({"kl_weight", "gate_noise", "domain_mix"});
  const std::string series = x.empty() ? "" : p.pick({"gate_noise", "domain_mix"}, x);
  for (const auto& m : r.info.metric_names) {
    if (!x.empty()) s.figures.push_back({K::kLine, m, x, series, m + " against " + x});
    if (!series.empty()) {
      s.figures.push_back({K::kHeatmap, m, x, series, m + " over " + x + " and " + series});
    }
  }
  for (const auto& c : r.info.curve_names) {
    if (p.curve(c)) s.figures.push_back({K::kCurves, c, "", "", c + " curves"});
  }
  if (!x.empty()) s.table_by = {x};
  if (!series.empty()) s.table_by.push_back(series);
  return s;
}

std::string slug(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  return out;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
  return buf;
}

}  // namespace

Report write_report(const Results& r, const ReportOptions& options) {
  namespace fs = std::filesystem;
  if (options.dir.empty()) throw ConfigError("no report directory", "pass -o DIR");
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) {
    throw EnvironmentError("cannot create " + options.dir + ": " + ec.message(),
                           "choose a writable directory with -o");
  }
  Planner planner(r, options.where);
  std::vector<Section> sections = science_sections(planner);
  if (sections.empty()) sections.push_back(generic_section(r, planner));

  Report rep;
  rep.page = (fs::path(options.dir) / "report.md").string();
  const std::size_t done = r.count_status(kStatusDone);
  const std::size_t failed = r.count_status(kStatusFailed);
  std::string md =
      fmt::format("# {} — sweep report\n\n",
                  r.info.sweep_name.empty() ? fs::path(r.path).stem().string() : r.info.sweep_name);
  md += fmt::format("Results file `{}` (task kind `{}`, config hash `{}`), read {}.\n\n", r.path,
                    r.info.task_kind, r.info.config_hash.substr(0, 12), utc_now());
  md +=
      fmt::format("**{} points done, {} failed** of {} in the grid{}.", done, failed,
                  r.info.grid_points, r.info.shard.empty() ? "" : " (shard " + r.info.shard + ")");
  md +=
      " Means are over replicates (and any axis not shown); bands and ± are 95% confidence "
      "intervals from Student's t, blank for a single value; failed points are counted, never "
      "averaged in.";
  if (!options.where.empty()) {
    md += " Only points where";
    for (const auto& f : options.where) md += " `" + f.text + "`";
    md += ".";
  }
  md += " Each figure has an SVG twin and its gnuplot script (`.gp`) next to it.\n\n";
  {
    SummaryOptions so;
    so.where = options.where;
    write_text_file((fs::path(options.dir) / "summary.csv").string(), format_csv(summarise(r, so)));
    md += "The full summary (every metric, grouped by every axis) is in `summary.csv`.\n\n";
  }

  std::size_t number = 0;
  for (const Section& s : sections) {
    md += "## " + s.title + "\n\n" + s.text + "\n\n";
    if (!s.table_by.empty() && !s.table_metrics.empty()) {
      SummaryOptions so;
      so.by = s.table_by;
      so.metrics = s.table_metrics;
      so.where = options.where;
      md += format_markdown(summarise(r, so)) + "\n";
    }
    for (const Planned& f : s.figures) {
      FigureOptions fo;
      fo.where = options.where;
      fo.svg = options.svg;
      ++number;
      std::string base = fmt::format("fig{:02d}-", number);
      Figure fig;
      try {
        switch (f.kind) {
          case Planned::Kind::kHeatmap:
            base += "heatmap-" + slug(f.name);
            fo.output = (fs::path(options.dir) / base).string();
            fig = plot_heatmap(r, {f.name, f.x, f.y}, fo);
            break;
          case Planned::Kind::kLine:
            base += "line-" + slug(f.name) + "-" + slug(f.x);
            fo.output = (fs::path(options.dir) / base).string();
            fig = plot_line(r, {f.name, f.x, f.y, Scale::kAuto}, fo);
            break;
          case Planned::Kind::kCurves: {
            base += "curves-" + slug(f.name);
            fo.output = (fs::path(options.dir) / base).string();
            CurvesSpec cs;
            cs.curve = f.name;
            fig = plot_curves(r, cs, fo);
            break;
          }
        }
      } catch (const EnvironmentError&) {
        throw;
      } catch (const Error& e) {
        // A figure with nothing to draw (e.g. a metric undefined everywhere) is reported on
        // the page rather than failing the whole report.
        rep.skipped.push_back(f.caption + ": " + e.what());
        md += fmt::format("*{} — not drawn: {}*\n\n", f.caption, e.what());
        --number;
        continue;
      }
      rep.figures.push_back(fig.files.front());
      md += fmt::format("![{}]({}.png)\n\n", f.caption, base);
      md += fmt::format("*Figure {}: {}.* {}", number, f.caption, fig.title);
      if (fig.failed_excluded > 0)
        md += fmt::format("; {} failed point(s) not drawn", fig.failed_excluded);
      if (!fig.note.empty()) md += "; " + fig.note;
      md += fmt::format(". [SVG]({0}.svg), [gnuplot]({0}.gp)\n\n", base);
    }
  }
  if (failed > 0) {
    md += "## Failed points\n\n```\n" + format_failed(r, options.where, 50) + "```\n\n";
  }
  md += "## Provenance\n\n";
  for (const char* key : {"emsweep_version", "git_commit", "hdf5_version", "mpi_version",
                          "libtorch_version", "host", "ranks", "created", "last_run_start"}) {
    auto it = r.info.provenance.find(key);
    if (it != r.info.provenance.end() && !it->second.empty()) {
      md += fmt::format("- {}: `{}`\n", key, it->second);
    }
  }
  md += fmt::format("- runs on this file: {}\n", r.runs.size());
  if (!r.info.config_yaml.empty()) {
    md += "\n<details><summary>Resolved config</summary>\n\n```yaml\n" + r.info.config_yaml +
          (r.info.config_yaml.ends_with('\n') ? "" : "\n") + "```\n</details>\n";
  }
  write_text_file(rep.page, md);
  return rep;
}

}  // namespace emsweep::analysis
