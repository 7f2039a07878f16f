// `s3rdma plan SCENARIO --target RATE [--vary PATH] [--max N] [--set k=v]... [--seed N]`:
// capacity planning. Finds the smallest value of an integer key (default
// cluster.storage.count) for which the scenario's aggregate throughput reaches the
// target: doubling from 1 until it is reached, then bisection. Prints every point it ran,
// the answer and its bottleneck. Throughput is assumed to grow with the key (more nodes
// never hurt); when the target is not reached at --max, the bottleneck there says why.
#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "core/units.h"
#include "sim/report.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace s3rdma::cli {
namespace {

struct PlanOptions {
  std::string scenario;
  std::string target;
  std::string vary = "cluster.storage.count";
  int64_t max = 1024;
  std::vector<std::string> sets;
  int64_t seed = -1;
};

int RunPlan(const PlanOptions& o) {
  auto rate = core::ParseDataRate(o.target);
  if (!rate.ok()) return Fail("--target " + o.target + ": " + rate.status().message(), 2);
  const double target = rate.value().BytesPerSecondF();
  if (target <= 0) return Fail("--target must be > 0", 2);
  if (o.max < 1) return Fail("--max must be >= 1", 2);
  std::vector<std::string> sets = o.sets;
  if (o.seed >= 0) sets.push_back("seed=" + std::to_string(o.seed));

  std::map<int64_t, sim::SweepPoint> done;  // by value of the varied key
  std::string error;
  auto eval = [&](int64_t v) -> const sim::SimResult* {
    auto it = done.find(v);
    if (it != done.end()) return &it->second.result;
    std::vector<std::string> s = sets;
    s.push_back(o.vary + "=" + std::to_string(v));
    auto cfg = sim::LoadScenarioFile(o.scenario, s);
    if (!cfg.ok()) {
      error = cfg.status().message();
      return nullptr;
    }
    if (isatty(2)) std::fprintf(stderr, "trying %s=%lld   \r", o.vary.c_str(), static_cast<long long>(v));
    sim::SweepPoint p;
    p.values = {std::to_string(v)};
    p.result = sim::RunScenario(cfg.value());
    return &done.emplace(v, std::move(p)).first->second.result;
  };
  auto meets = [&](const sim::SimResult* r) { return r->aggregate_bps >= target; };

  int64_t lo = 0;  // largest value known to miss (0 = none tried)
  int64_t hi = 0;  // smallest value known to meet
  for (int64_t v = 1;; v = std::min(o.max, v * 2)) {
    const sim::SimResult* r = eval(v);
    if (r == nullptr) return Fail(error, 2);
    if (meets(r)) {
      hi = v;
      break;
    }
    lo = v;
    if (v == o.max) break;
  }
  while (hi != 0 && hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    const sim::SimResult* r = eval(mid);
    if (r == nullptr) return Fail(error, 2);
    (meets(r) ? hi : lo) = mid;
  }
  if (isatty(2)) std::fprintf(stderr, "%60s\r", "");

  std::vector<sim::SweepPoint> points;
  for (auto& [v, p] : done) points.push_back(p);
  std::printf("plan for %s: target %s aggregate, varying %s (max %lld)\n", o.scenario.c_str(),
              sim::FormatRate(target).c_str(), o.vary.c_str(), static_cast<long long>(o.max));
  std::fputs(sim::SweepTable({o.vary}, points).c_str(), stdout);
  if (hi == 0) {
    const sim::SimResult& r = done.at(o.max).result;
    std::printf("not reachable: %s=%lld gives %s; bottleneck %s %s at %.0f%%\n", o.vary.c_str(),
                static_cast<long long>(o.max), sim::FormatRate(r.aggregate_bps).c_str(),
                r.bottleneck.group.c_str(), r.bottleneck.kind.c_str(), r.bottleneck.mean * 100);
    return 1;
  }
  const sim::SimResult& r = done.at(hi).result;
  std::printf("answer: %s=%lld gives %s (bottleneck %s %s at %.0f%%)\n", o.vary.c_str(),
              static_cast<long long>(hi), sim::FormatRate(r.aggregate_bps).c_str(),
              r.bottleneck.group.c_str(), r.bottleneck.kind.c_str(), r.bottleneck.mean * 100);
  return 0;
}

}  // namespace

void AddPlanCommand(CLI::App& app, CommandRunner& run) {
  auto o = std::make_shared<PlanOptions>();
  CLI::App* sub = app.add_subcommand(
      "plan", "Capacity planning: the smallest node count (or other integer key) that reaches a target throughput");
  sub->add_option("scenario", o->scenario, "Scenario file (see docs/scenario-reference.md)")->required();
  sub->add_option("--target", o->target, "Aggregate throughput to reach, e.g. 1TB/s or 400Gbps")->required();
  sub->add_option("--vary", o->vary, "Integer key to search (default cluster.storage.count)");
  sub->add_option("--max", o->max, "Largest value to try (default 1024)");
  sub->add_option("--set", o->sets, "Override a value: path=value")->allow_extra_args(false);
  sub->add_option("--seed", o->seed, "Seed (overrides the scenario's)")->check(CLI::NonNegativeNumber);
  sub->callback([o, &run] { run = [o] { return RunPlan(*o); }; });
}

}  // namespace s3rdma::cli
