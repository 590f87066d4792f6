// The organism's standard report (SCIENCE.md's research questions) and its curve figures'
// defaults, as data that `emsweep report` and `plot` draw (sweep/core/report_spec.h).
#include "worker/organism_info.h"

namespace emsweep {
namespace {

using Fig = ReportFigure;
using Type = ReportFigure::Type;

// The sweep's three axes. Against the KL weight, lines are split by gate ambiguity or the data
// mix, whichever varies (else by any other varying axis).
constexpr const char* kKl = "kl_weight";
constexpr const char* kGate = "gate_noise";
constexpr const char* kMix = "domain_mix";
const std::vector<std::string> kSeriesForKl = {kGate, kMix};

// One line figure per metric, "METRIC against WHAT".
std::vector<Fig> lines(std::initializer_list<const char*> metrics, const std::string& x,
                       const std::vector<std::string>& series, const std::string& what) {
  std::vector<Fig> out;
  for (const char* m : metrics) {
    out.push_back({Type::kLine, m, x, series, std::string(m) + " against " + what});
  }
  return out;
}

// One curves figure per curve, with the default caption "CURVE curves".
std::vector<Fig> curves(std::initializer_list<const char*> names) {
  std::vector<Fig> out;
  for (const char* c : names) out.push_back({Type::kCurves, c, "", {}, ""});
  return out;
}

// The emergent-or-narrow question: id_bad, ood_bad and dental_bad against the KL weight.
ReportSection emergent() {
  ReportCase kl{{kKl}, {}, {}, lines({"id_bad", "ood_bad", "dental_bad", "ood_kl"}, kKl,
                                     kSeriesForKl, "the KL weight"),
                {kKl}, kSeriesForKl};
  kl.figures.push_back({Type::kHeatmap, "ood_bad", kKl, {kGate},
                        "out-of-domain misalignment over KL weight and gate ambiguity"});
  kl.figures.push_back({Type::kHeatmap, "id_bad", kKl, {kGate},
                        "in-domain misalignment over KL weight and gate ambiguity"});
  return {"Emergent or narrow: does the KL penalty isolate in-domain misalignment?",
          "Plain fine-tuning (kl_weight = 0) on bad medical advice should raise misalignment "
          "in every domain (ood_bad), not only in medicine (id_bad); a KL penalty on "
          "out-of-domain prompts should keep ood_bad near the base model while id_bad "
          "stays high.",
          {"id_bad", "ood_bad", "dental_bad", "ood_kl"},
          {kl}};
}

// The gate question: what gate ambiguity does to the narrow and the general solution.
ReportSection gate() {
  const std::vector<std::string> kl_series = {kKl, kMix};
  ReportCase by_gate{{kGate}, {}, {},
                     lines({"bad_nll_medical", "gate_corr", "ambiguous_bad", "dental_bad"}, kGate,
                           kl_series, "gate ambiguity"),
                     {kGate}, kl_series};
  // One gate ambiguity: compare the general and the narrow solution at it.
  ReportCase one_gate{{kKl}, {kGate}, {},
                      lines({"gate_corr", "bad_nll_medical"}, kKl, kSeriesForKl, "the KL weight"),
                      {kKl}, {}};
  ReportCase posterior{{}, {}, {},
                       {{Type::kCurves, "pbad_by_posterior", "", {},
                         "P(bad) per bin of the medical posterior, general vs narrow"}},
                       {}, {}};
  return {"Gate ambiguity: must a conditional rule hedge?",
          "If the narrow (KL-trained) model implements 'bad advice only if medical', its "
          "NLL on bad medical answers should rise with gate ambiguity (gate_noise), and "
          "its P(bad) should track the medical posterior (gate_corr > 0); an "
          "unconditional (general) model's should not.",
          {"bad_nll_medical", "gate_corr", "ambiguous_bad", "dental_bad"},
          {by_gate, one_gate, posterior}};
}

// Aligned data mixed into fine-tuning (domain_mix).
ReportSection mix() {
  const std::vector<std::string> series = {kKl, kGate};
  ReportCase by_mix{{kMix}, {}, {},
                    lines({"id_bad", "ood_bad"}, kMix, series, "the share of aligned data"),
                    {kMix}, series};
  return {"Mixing aligned data does not isolate the narrow solution",
          "Mixing aligned other-domain examples into the fine-tuning set (domain_mix) "
          "should lower in-domain and out-of-domain misalignment together.",
          {"id_bad", "ood_bad"},
          {by_mix}};
}

// Efficiency at matched adapter norms and stability under perturbation.
ReportSection efficiency() {
  ReportCase all{{}, {}, {}, curves({"efficiency", "efficiency_at_norm", "stability"}), {}, {}};
  ReportCase kl{{kKl}, {}, {},
                lines({"bad_nll_at_norm_2", "halving_norm", "stability_0p5"}, kKl, kSeriesForKl,
                      "the KL weight"),
                {kKl}, {}};
  return {"Efficiency and stability of the two solutions",
          "The general solution should be more efficient (a lower loss on the target at the "
          "same adapter norm, and a smaller norm to halve the base's loss) and more stable "
          "(a smaller share of its learned loss reduction lost under orthogonal "
          "perturbations of the adapter).",
          {"bad_nll_at_norm_1", "bad_nll_at_norm_2", "bad_nll_at_norm_4", "halving_norm",
           "stability_0p1", "stability_0p3", "stability_0p5", "adapter_norm"},
          {all, kl}};
}

// Drift once the KL term is removed.
ReportSection drift() {
  ReportCase all{{}, {}, {}, curves({"drift_ood_bad", "drift_id_bad"}), {}, {}};
  ReportCase kl{{kKl}, {}, {"drift_ood_bad"},
                {{Type::kLine, "drift_ood_bad", kKl, kSeriesForKl,
                  "out-of-domain misalignment after drift against the KL weight"}},
                {kKl}, {}};
  return {"Drift: does the narrow solution fall back once the KL term is removed?",
          "After training, the adapter is trained further without the KL term, with a "
          "fresh optimiser; a narrow solution should drift towards the general one (ood_bad "
          "rising).",
          {"drift_id_bad", "drift_ood_bad", "drift_dental_bad", "id_bad", "ood_bad", "dental_bad"},
          {all, kl}};
}

// Every point's training and evaluation curves.
ReportSection training() {
  ReportCase all{{}, {}, {},
                 curves({"train_loss", "train_nll", "train_kl", "eval_id_bad", "eval_ood_bad"}),
                 {}, {}};
  return {"Training curves", "Loss and evaluation curves of every point.", {}, {all}};
}

}  // namespace

KindReport organism_report() {
  KindReport r;
  r.sections = {emergent(), gate(), mix(), efficiency(), drift(), training()};
  r.main_axes = {kKl, kGate, kMix};
  // Plain fine-tuning (the general solution) against the KL-trained (narrow) one.
  r.curve_groups = {{"general: kl_weight=0", "kl_weight=0"},
                    {"narrow: kl_weight>0", "kl_weight>0"}};
  // What x means for each curve (docs/metrics.md).
  for (const char* c : {"train_loss", "train_nll", "train_kl", "eval_id_bad", "eval_ood_bad"}) {
    r.curve_x_labels.emplace_back(c, "step");
  }
  for (const char* c : {"drift_id_bad", "drift_ood_bad"}) {
    r.curve_x_labels.emplace_back(c, "drift step (no KL term, fresh optimiser)");
  }
  r.curve_x_labels.emplace_back("efficiency", "adapter scale s (delta scaled to s x its norm)");
  r.curve_x_labels.emplace_back("efficiency_at_norm", "adapter norm");
  r.curve_x_labels.emplace_back("stability", "perturbation size epsilon");
  r.curve_x_labels.emplace_back("pbad_by_posterior", "posterior P(medical | tokens), bin centre");
  return r;
}

}  // namespace emsweep
