// `s3rdma dst (--seeds A..B | --seed S) [--ops N] [--plant BUG] [--first-failure] [--verbose]`:
// deterministic simulation testing of the real S3 server (sim/dst.h, docs/dst.md). Each
// seed is a randomised world with crashes, I/O errors and clock skew, checked against a
// model. Prints every failure with the command that replays it, a summary, and exits 1 if
// any seed failed. `--seed S` replays one seed and prints its event-trace hash.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "cli/command.h"
#include "sim/dst.h"

namespace s3rdma::cli {
namespace {

struct DstCliOptions {
  std::string seeds;
  std::string seed;  // parsed by ParseU64: CLI11's range check prints a 300-digit bound
  int64_t ops = 200;
  std::string plant;
  bool first_failure = false;
  bool verbose = false;
  bool list_plants = false;
};

// A seed: decimal digits only, at most 19 of them (so it fits a uint64_t).
bool ParseU64(const std::string& s, uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

int RunDst(const DstCliOptions& o) {
  if (o.list_plants) {
    for (const sim::PlantableBug& b : sim::PlantableBugs()) {
      std::printf("%-24s %-9s %s\n", b.name.c_str(), b.available ? "available" : "not wired",
                  b.where.c_str());
    }
    return 0;
  }
  uint64_t first = 0, last = 0;
  if (!o.seed.empty() && !o.seeds.empty()) return Fail("give --seed or --seeds, not both", 2);
  if (!o.seed.empty()) {
    if (!ParseU64(o.seed, first)) {
      return Fail("--seed must be an integer 0..9999999999999999999 (got '" + o.seed + "')", 2);
    }
    last = first;
  } else if (!o.seeds.empty()) {
    const size_t dots = o.seeds.find("..");
    if (dots == std::string::npos || !ParseU64(o.seeds.substr(0, dots), first) ||
        !ParseU64(o.seeds.substr(dots + 2), last) || first > last) {
      return Fail("--seeds must be A..B with integers 0 <= A <= B <= 9999999999999999999 (got '" +
                      o.seeds + "')",
                  2);
    }
  } else {
    return Fail("give --seed S or --seeds A..B", 2);
  }
  if (o.ops < 1 || o.ops > 1'000'000) return Fail("--ops must be 1..1000000", 2);
  if (auto st = sim::ValidatePlant(o.plant); !st.ok()) return Fail(st.message(), 2);

  // The stores' recovery warnings (torn files ignored after a simulated crash) are expected
  // here: quiet them at the default level, show them with --verbose or --log-level.
  if (!o.verbose && spdlog::get_level() == spdlog::level::warn) {
    spdlog::set_level(spdlog::level::err);
  }
  sim::DstOptions options;
  options.ops = static_cast<uint64_t>(o.ops);
  options.plant = o.plant;
  if (o.verbose) options.trace = [](const std::string& line) { std::printf("  %s\n", line.c_str()); };
  const bool single = first == last;

  uint64_t runs = 0, failed = 0, ops = 0, requests = 0, acked = 0, unknown = 0, reads = 0,
           skew = 0, crashes = 0, partitions = 0, io_errors = 0, events = 0, rdma_ops = 0,
           rdma_ok = 0, rdma_reconnects = 0, fabric_faults = 0, flap_drops = 0, slow_periods = 0,
           timeouts = 0, client_crashes = 0, rdma_excused = 0, rdma_after_reset = 0;
  double max_drive_wait_ms = 0;
  const auto wall_start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  for (uint64_t seed = first;; ++seed) {
    if (o.verbose) std::printf("seed %llu:\n", static_cast<unsigned long long>(seed));
    const sim::DstResult r = sim::RunDstSeed(seed, options);
    ++runs;
    ops += r.ops;
    requests += r.requests;
    acked += r.acked_writes;
    unknown += r.unknown_writes;
    reads += r.checked_reads;
    skew += r.skew_rejections;
    crashes += r.crashes;
    partitions += r.partitions;
    io_errors += r.injected_io_errors;
    events += r.events;
    rdma_ops += r.rdma_ops;
    rdma_ok += r.rdma_ok;
    rdma_reconnects += r.rdma_reconnects;
    rdma_excused += r.rdma_excused_failures;
    rdma_after_reset += r.rdma_checked_after_reset;
    fabric_faults += r.fabric_faults;
    flap_drops += r.flap_drops;
    slow_periods += r.slow_drive_periods;
    timeouts += r.timeouts;
    client_crashes += r.client_crashes;
    max_drive_wait_ms = std::max(max_drive_wait_ms, r.max_drive_wait_ms);
    if (single) {
      std::printf("seed %llu: %s; %s; %llu ops, %llu crashes, %llu events, %.3f virtual s, "
                  "trace hash %016llx, history hash %016llx\n",
                  static_cast<unsigned long long>(seed), r.ok() ? "ok" : "FAILED",
                  r.world.c_str(), static_cast<unsigned long long>(r.ops),
                  static_cast<unsigned long long>(r.crashes),
                  static_cast<unsigned long long>(r.events), r.virtual_seconds,
                  static_cast<unsigned long long>(r.trace_hash),
                  static_cast<unsigned long long>(r.history_hash));
    }
    if (!r.ok()) {
      ++failed;
      std::printf("FAIL seed %llu (%s):\n", static_cast<unsigned long long>(seed),
                  r.world.c_str());
      for (const std::string& f : r.failures) std::printf("  %s\n", f.c_str());
      std::printf("  replay: %s\n", sim::ReplayCommand(seed, options).c_str());
      std::fflush(stdout);
      if (o.first_failure) {
        std::printf("first failure at seed %llu, after %llu seeds\n",
                    static_cast<unsigned long long>(seed), static_cast<unsigned long long>(runs));
        break;
      }
    }
    if (seed == last) break;
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  // CPU time too: on a shared machine wall time says more about the neighbours.
  const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  std::printf("dst: seeds %llu..%llu%s%s: %llu runs, %llu failed; %llu ops (%llu requests, "
              "%llu acked writes, %llu unknown), %llu reads checked, %llu skewed refusals, "
              "%llu crashes, %llu client crashes, %llu partitions, %llu injected I/O errors, "
              "%llu slow-drive periods "
              "(longest drive queue wait %.1f ms, %llu client timeouts); RDMA %llu/%llu ok, "
              "%llu reconnects, %llu transfer failures excused by client resets (%llu requests checked "
              "after one), %llu fabric faults, %llu flap drops; %llu events; %.2f s wall, "
              "%.1f seeds/s (%.2f s CPU, %.1f seeds per CPU second)\n",
              static_cast<unsigned long long>(first), static_cast<unsigned long long>(last),
              o.plant.empty() ? "" : ", planted ", o.plant.c_str(),
              static_cast<unsigned long long>(runs), static_cast<unsigned long long>(failed),
              static_cast<unsigned long long>(ops), static_cast<unsigned long long>(requests),
              static_cast<unsigned long long>(acked), static_cast<unsigned long long>(unknown),
              static_cast<unsigned long long>(reads), static_cast<unsigned long long>(skew),
              static_cast<unsigned long long>(crashes),
              static_cast<unsigned long long>(client_crashes),
              static_cast<unsigned long long>(partitions),
              static_cast<unsigned long long>(io_errors),
              static_cast<unsigned long long>(slow_periods), max_drive_wait_ms,
              static_cast<unsigned long long>(timeouts), static_cast<unsigned long long>(rdma_ok),
              static_cast<unsigned long long>(rdma_ops),
              static_cast<unsigned long long>(rdma_reconnects),
              static_cast<unsigned long long>(rdma_excused),
              static_cast<unsigned long long>(rdma_after_reset),
              static_cast<unsigned long long>(fabric_faults),
              static_cast<unsigned long long>(flap_drops), static_cast<unsigned long long>(events), wall, wall > 0 ? runs / wall : 0.0, cpu,
              cpu > 0 ? runs / cpu : 0.0);
  return failed == 0 ? 0 : 1;
}

}  // namespace

void AddDstCommand(CLI::App& app, CommandRunner& run) {
  auto o = std::make_shared<DstCliOptions>();
  CLI::App* sub = app.add_subcommand(
      "dst", "Deterministic simulation testing: random worlds with crashes, I/O errors and "
             "clock skew run the real S3 server, checked against a model (docs/dst.md)");
  sub->add_option("--seeds", o->seeds, "Seed range A..B (inclusive)");
  sub->add_option("--seed", o->seed, "One seed: replay it exactly (prints the trace hash)");
  sub->add_option("--ops", o->ops, "Client operations per seed (default 200)");
  sub->add_option("--plant", o->plant, "Switch on a planted bug (see --list-plants)");
  sub->add_flag("--first-failure", o->first_failure, "Stop at the first failing seed");
  sub->add_flag("--verbose", o->verbose, "Print every operation and fault");
  sub->add_flag("--list-plants", o->list_plants, "List the planted bugs and exit");
  sub->callback([o, &run] { run = [o] { return RunDst(*o); }; });
}

}  // namespace s3rdma::cli
