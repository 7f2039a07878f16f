// `s3rdma sim SCENARIO [--set k=v]... [--sweep k=v1,v2]... [--out DIR] [--seed N]`:
// runs a YAML scenario on the models in virtual time and prints a summary; with sweeps,
// runs the cross product and prints one table. `--protocol real|both` runs the real
// S3-over-RDMA server, client and software NIC over the modelled network instead of (or
// beside) the models (docs/protocol-mode.md).
#include <unistd.h>

#include <chrono>
#include <memory>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "sim/protocol_world.h"
#include "sim/report.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace s3rdma::cli {
namespace {

struct SimOptions {
  std::string scenario;
  std::vector<std::string> sets;
  std::vector<std::string> sweeps;
  std::string out;
  int64_t seed = -1;
  bool no_progress = false;
  // Shorthands for --set protocol.{mode,fidelity,payload,loss}=...; empty: the scenario's.
  std::string protocol;  // modelled | real | both
  std::string fidelity;  // flow | packet
  std::string payload;   // real | phantom
  std::string loss;      // packet fidelity: drop probability

  // The --sets the flags above stand for, each with the flag as the user typed it (so an
  // error about the value names the flag, not a --set the user never wrote).
  std::vector<std::pair<std::string, std::string>> FlagSets() const {
    std::vector<std::pair<std::string, std::string>> out;
    if (!protocol.empty()) out.emplace_back("protocol.mode=" + protocol, "--protocol " + protocol);
    if (!fidelity.empty()) out.emplace_back("protocol.fidelity=" + fidelity, "--fidelity " + fidelity);
    if (!payload.empty()) out.emplace_back("protocol.payload=" + payload, "--payload " + payload);
    if (!loss.empty()) out.emplace_back("protocol.loss=" + loss, "--loss " + loss);
    return out;
  }
};

// A progress bar with ETA on stderr, only on a terminal and only once a run has taken
// more than a second of wall time (the wall clock is read here, at the edge, never in sim).
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled && isatty(2)), start_(Clock::now()) {}
  ~ProgressBar() { Clear(); }
  void Update(double f) {
    if (!enabled_) return;
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    if (elapsed < 1.0 || now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    const int width = 30;
    const int fill = static_cast<int>(f * width);
    std::string bar(static_cast<size_t>(fill), '#');
    bar += std::string(static_cast<size_t>(width - fill), ' ');
    const double eta = f > 0.001 ? elapsed * (1 - f) / f : 0;
    std::fprintf(stderr, "\r[%s] %5.1f%%  %.0fs elapsed  ETA %.0fs ", bar.c_str(), f * 100, elapsed, eta);
    std::fflush(stderr);
    shown_ = true;
  }
  void Clear() {
    if (shown_) std::fprintf(stderr, "\r%60s\r", "");
    shown_ = false;
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_;
  bool shown_ = false;
  Clock::time_point start_;
  Clock::time_point last_;
};

struct SweepAxis {
  std::string key;
  std::vector<std::string> values;
};

// Prints the summary, the wall time line and writes outputs (into `dir` if not empty).
int Report(const sim::SimResult& r, double wall, const std::string& dir) {
  std::fputs(sim::FormatSummary(r).c_str(), stdout);
  std::printf("wall       %.3f s for %llu events (%.2fM events/s), %llu flow solves (%.1f flows each)\n",
              wall, static_cast<unsigned long long>(r.events),
              wall > 0 ? static_cast<double>(r.events) / wall / 1e6 : 0.0,
              static_cast<unsigned long long>(r.solves),
              r.solves > 0 ? static_cast<double>(r.activities_solved) / static_cast<double>(r.solves) : 0.0);
  if (!dir.empty()) {
    if (auto st = sim::WriteOutputs(r, dir); !st.ok()) return Fail(st.message(), 1);
    std::printf("outputs    %s/{results.json,utilisation.csv,timeseries.csv}\n", dir.c_str());
  }
  return 0;
}

// --protocol real|both: the real protocol code over the modelled network (and the models).
int RunProtocol(const SimOptions& o, const sim::ScenarioConfig& cfg, sim::SimResult* out, bool quiet) {
  const sim::ProtocolConfig& pc = cfg.protocol;
  const bool both = pc.mode == sim::ProtocolConfig::Mode::kBoth;
  const char* fidelity = pc.packet_fidelity ? "packet" : "flow";
  const char* payload = pc.phantom_payloads ? "phantom" : "real";
  sim::ProtocolOptions po;
  po.fidelity = pc.packet_fidelity ? sim::NetworkFidelity::kPacket : sim::NetworkFidelity::kFlow;
  po.phantom_payloads = pc.phantom_payloads;
  po.faults.drop_probability = pc.loss;
  if (auto st = sim::CheckProtocolScenario(cfg, po); !st.ok()) return Fail(st.message(), 2);
  const std::string dir = !o.out.empty() ? o.out : cfg.out_dir;
  sim::SimResult modelled;
  double modelled_wall = 0;
  if (both) {
    const auto t0 = std::chrono::steady_clock::now();
    modelled = sim::RunScenario(cfg);
    modelled_wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!quiet) {
      std::printf("=== modelled ===\n");
      if (int rc = Report(modelled, modelled_wall, dir.empty() ? "" : dir + "/modelled"); rc != 0) return rc;
    }
  }
  ProgressBar bar(!o.no_progress && !quiet);
  sim::RunOptions ro;
  ro.progress = [&bar](double f) { bar.Update(f); };
  const auto t0 = std::chrono::steady_clock::now();
  auto run = sim::RunProtocolScenario(cfg, po, ro);
  bar.Clear();
  if (!run.ok()) return Fail(run.status().message(), 2);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  *out = run->result;
  const sim::ProtocolStats& ps = run->stats;
  if (!quiet) {
    if (both) std::printf("\n=== real protocol (%s fidelity, %s payloads) ===\n", fidelity, payload);
    if (int rc = Report(run->result, wall, dir.empty() ? "" : (both ? dir + "/real" : dir)); rc != 0) return rc;
    std::printf("protocol   %s fidelity, %s payloads: %lld requests ok, %lld errors, %lld byte mismatches; "
                "%llu packets, %llu flows (%llu HTTP bodies), %llu dropped, %llu NAKs+duplicates, %llu RDMA connects\n",
                fidelity, payload, static_cast<long long>(ps.requests_ok),
                static_cast<long long>(ps.request_errors), static_cast<long long>(ps.verify_failures),
                static_cast<unsigned long long>(ps.packets), static_cast<unsigned long long>(ps.flows),
                static_cast<unsigned long long>(ps.http_body_flows),
                static_cast<unsigned long long>(ps.dropped),
                static_cast<unsigned long long>(ps.recovery_events), static_cast<unsigned long long>(ps.rdma_connects));
    if (ps.clamped_sizes > 0) {
      std::printf("note       %lld object sizes above the 4-sigma object size were clamped\n",
                  static_cast<long long>(ps.clamped_sizes));
    }
    if (both) {
      std::printf("\n%s", sim::FormatComparison(modelled, run->result).c_str());
      std::printf("  %-40s %12.3f s %12.3f s %8.1fx\n", "wall time", modelled_wall, wall,
                  modelled_wall > 0 ? wall / modelled_wall : 0.0);
    }
  }
  if (ps.request_errors > 0 || ps.verify_failures > 0) {
    return Fail("protocol run failed: " + ps.first_error, 1);
  }
  return 0;
}

int RunOne(const SimOptions& o, const std::vector<std::string>& sets, sim::SimResult* out,
           bool quiet) {
  auto cfg = sim::LoadScenarioFile(o.scenario, sets);
  if (!cfg.ok()) {
    std::string msg = cfg.status().message();
    for (const auto& [set, flag] : o.FlagSets()) {
      const std::string prefix = "--set " + set + ":";
      if (msg.starts_with(prefix)) msg = flag + ":" + msg.substr(prefix.size());
    }
    return Fail(msg, 2);
  }
  if (cfg->protocol.mode != sim::ProtocolConfig::Mode::kModelled) return RunProtocol(o, cfg.value(), out, quiet);
  ProgressBar bar(!o.no_progress && !quiet);
  sim::RunOptions ro;
  ro.progress = [&bar](double f) { bar.Update(f); };
  const auto t0 = std::chrono::steady_clock::now();
  *out = sim::RunScenario(cfg.value(), ro);
  bar.Clear();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!quiet) {
    std::fputs(sim::FormatSummary(*out).c_str(), stdout);
    std::printf("wall       %.3f s for %llu events (%.2fM events/s), %llu flow solves (%.1f flows each)\n",
                wall, static_cast<unsigned long long>(out->events),
                wall > 0 ? static_cast<double>(out->events) / wall / 1e6 : 0.0,
                static_cast<unsigned long long>(out->solves),
                out->solves > 0 ? static_cast<double>(out->activities_solved) / static_cast<double>(out->solves) : 0.0);
    const std::string dir = !o.out.empty() ? o.out : cfg.value().out_dir;
    if (!dir.empty()) {
      if (auto st = sim::WriteOutputs(*out, dir); !st.ok()) return Fail(st.message(), 1);
      std::printf("outputs    %s/{results.json,utilisation.csv,timeseries.csv}\n", dir.c_str());
    }
  }
  return 0;
}

int RunSim(const SimOptions& o) {
  std::vector<std::string> sets = o.sets;
  if (o.seed >= 0) sets.push_back("seed=" + std::to_string(o.seed));
  for (const auto& fs : o.FlagSets()) sets.push_back(fs.first);
  if (o.sweeps.empty()) {
    sim::SimResult r;
    return RunOne(o, sets, &r, false);
  }
  std::vector<SweepAxis> axes;
  for (const std::string& s : o.sweeps) {
    const size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == s.size()) {
      return Fail("--sweep " + s + ": expected path=v1,v2,...", 2);
    }
    SweepAxis a{s.substr(0, eq), {}};
    std::string rest = s.substr(eq + 1);
    size_t pos = 0;
    while (pos <= rest.size()) {
      const size_t comma = rest.find(',', pos);
      const std::string v = rest.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      if (v.empty()) return Fail("--sweep " + s + ": empty value", 2);
      a.values.push_back(v);
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    axes.push_back(std::move(a));
  }
  size_t total = 1;
  for (const auto& a : axes) total *= a.values.size();
  std::vector<std::string> keys;
  for (const auto& a : axes) keys.push_back(a.key);
  std::vector<sim::SweepPoint> points;
  for (size_t i = 0; i < total; ++i) {
    // Row-major: the last --sweep varies fastest.
    std::vector<std::string> point_sets = sets;
    std::vector<std::string> values;
    size_t rem = i;
    std::vector<size_t> idx(axes.size());
    for (size_t k = axes.size(); k-- > 0;) {
      idx[k] = rem % axes[k].values.size();
      rem /= axes[k].values.size();
    }
    for (size_t k = 0; k < axes.size(); ++k) {
      point_sets.push_back(axes[k].key + "=" + axes[k].values[idx[k]]);
      values.push_back(axes[k].values[idx[k]]);
    }
    if (isatty(2) && !o.no_progress) std::fprintf(stderr, "sweep point %zu/%zu\r", i + 1, total);
    sim::SweepPoint p;
    p.values = values;
    if (int rc = RunOne(o, point_sets, &p.result, true); rc != 0) return rc;
    if (!o.out.empty()) {
      std::string sub = o.out + "/point";
      for (const auto& v : values) {
        sub += "-";
        for (char ch : v) sub += (ch == '/' || ch == ' ' || ch == '{' || ch == '}') ? '_' : ch;
      }
      if (auto st = sim::WriteOutputs(p.result, sub); !st.ok()) return Fail(st.message(), 1);
    }
    points.push_back(std::move(p));
  }
  if (isatty(2) && !o.no_progress) std::fprintf(stderr, "%40s\r", "");
  std::printf("sweep of %s (seed %llu, %zu points)\n", o.scenario.c_str(),
              static_cast<unsigned long long>(points.empty() ? 0 : points[0].result.seed), total);
  std::fputs(sim::SweepTable(keys, points).c_str(), stdout);
  if (!o.out.empty()) {
    const std::string path = o.out + "/sweep.csv";
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return Fail("cannot write '" + path + "'", 1);
    const std::string csv = sim::SweepCsv(keys, points);
    std::fwrite(csv.data(), 1, csv.size(), f);
    std::fclose(f);
    std::printf("outputs    %s (and one results directory per point)\n", path.c_str());
  }
  return 0;
}

}  // namespace

void AddSimCommand(CLI::App& app, CommandRunner& run) {
  auto o = std::make_shared<SimOptions>();
  CLI::App* sub = app.add_subcommand(
      "sim", "Run a YAML scenario on the capacity-planning models in virtual time");
  sub->add_option("scenario", o->scenario, "Scenario file (see docs/scenario-reference.md)")->required();
  sub->add_option("--set", o->sets, "Override a value: path=value (e.g. cluster.storage.count=8)")
      ->allow_extra_args(false);
  sub->add_option("--sweep", o->sweeps,
                  "Sweep a value: path=v1,v2,... (several: cross product) -> one table")
      ->allow_extra_args(false);
  sub->add_option("--out", o->out, "Write results.json, utilisation.csv, timeseries.csv here");
  sub->add_option("--seed", o->seed, "Seed (overrides the scenario's)")->check(CLI::NonNegativeNumber);
  sub->add_flag("--no-progress", o->no_progress, "Never draw the progress bar");
  sub->add_option("--protocol", o->protocol,
                  "modelled (the models), real (the real S3-over-RDMA server, client and software NIC "
                  "over the modelled network) or both (side by side); default: the scenario's "
                  "protocol.mode, else modelled")
      ->check(CLI::IsMember({"modelled", "real", "both"}));
  sub->add_option("--fidelity", o->fidelity, "Protocol mode network fidelity: flow or packet (protocol.fidelity)")
      ->check(CLI::IsMember({"flow", "packet"}));
  sub->add_option("--payload", o->payload,
                  "Protocol mode payloads: real (bytes carried and checked) or phantom (sizes only) (protocol.payload)")
      ->check(CLI::IsMember({"real", "phantom"}));
  sub->add_option("--loss", o->loss, "Protocol mode, packet fidelity: packet drop probability (protocol.loss)")
      ->check(CLI::Range(0.0, 1.0));
  sub->callback([o, &run] { run = [o] { return RunSim(*o); }; });
}

}  // namespace s3rdma::cli
