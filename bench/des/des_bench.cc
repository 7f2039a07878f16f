// bench/des: events per second of s3rdma's core::VirtualRuntime against ns-3's
// MapScheduler, HeapScheduler and CalendarScheduler on the same hold-model event
// pattern (hold.h), side by side in one process. Repetitions are interleaved
// (rep 1 of every scheduler, then rep 2, ...) so that machine noise hits all alike;
// the table reports the median. A scheduler too slow to repeat (ns-3's CalendarScheduler
// needs minutes just to be filled with 1M events) runs once at that N (--slow-rep), and
// every phase is cut at --budget seconds, so the table says how many events it measured.
// Exits non-zero if the schedulers disagree on the executed event sequence (the pattern
// check hash), because then the comparison is void.
#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench/des/hold.h"

namespace s3rdma::bench {
namespace {

struct Scheduler {
  std::string name;     // as printed
  std::string type_id;  // ns-3 TypeId, empty for s3rdma
};

const std::vector<Scheduler>& AllSchedulers() {
  static const std::vector<Scheduler> all = {
      {"s3rdma", ""},
      {"ns3-map", "ns3::MapScheduler"},
      {"ns3-heap", "ns3::HeapScheduler"},
      {"ns3-calendar", "ns3::CalendarScheduler"},
  };
  return all;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// "6.87M", "0.27M", "3.3k": millions unless that would print as zero.
std::string Rate(double events_per_s) {
  char buf[32];
  if (events_per_s >= 10e3) {
    std::snprintf(buf, sizeof buf, "%.2fM", events_per_s / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fk", events_per_s / 1e3);
  }
  return buf;
}

int Main(int argc, char** argv) {
  CLI::App app{"Hold-model DES benchmark: s3rdma VirtualRuntime vs ns-3 schedulers"};
  std::vector<uint64_t> pending = {1000, 100000, 1000000};
  std::vector<std::string> names = {"s3rdma", "ns3-map", "ns3-heap", "ns3-calendar"};
  int reps = 5;
  uint64_t events = 2000000;
  uint64_t warmup_cap = 100000;
  double budget = 2.0;
  double slow_rep = 20.0;
  uint64_t seed = 1;
  std::string csv_path;
  app.add_option("--pending", pending, "pending-event counts N")->delimiter(',');
  app.add_option("--schedulers", names, "s3rdma, ns3-map, ns3-heap, ns3-calendar")
      ->delimiter(',');
  app.add_option("--reps", reps, "repetitions per scheduler and N")->check(CLI::Range(1, 1000));
  app.add_option("--events", events, "timed events per repetition")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup_cap, "untimed warm-up events: min(N, this)");
  app.add_option("--budget", budget, "cut a repetition's timed phase after this many seconds")
      ->check(CLI::PositiveNumber);
  app.add_option("--slow-rep", slow_rep,
                 "a scheduler whose first repetition at some N took longer than this many "
                 "seconds (set-up included) is not repeated at that N")
      ->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed of the delay stream (same for every scheduler)");
  app.add_option("--csv", csv_path, "also write every repetition to this CSV file");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  std::vector<Scheduler> chosen;
  for (const std::string& name : names) {
    auto it = std::find_if(AllSchedulers().begin(), AllSchedulers().end(),
                           [&](const Scheduler& s) { return s.name == name; });
    if (it == AllSchedulers().end()) {
      std::fprintf(stderr, "des_bench: error: unknown scheduler '%s'\n", name.c_str());
      return 2;
    }
    chosen.push_back(*it);
  }
  for (uint64_t n : pending) {
    if (n == 0) {
      std::fprintf(stderr, "des_bench: error: --pending values must be >= 1\n");
      return 2;
    }
  }
  FILE* csv = nullptr;
  if (!csv_path.empty()) {
    csv = std::fopen(csv_path.c_str(), "w");
    if (csv == nullptr) {
      std::fprintf(stderr, "des_bench: error: cannot write %s\n", csv_path.c_str());
      return 2;
    }
    std::fprintf(csv, "pending,scheduler,rep,timed_events,seconds,events_per_s,check_hash\n");
  }

  std::printf("hold model: delays uniform %lld..%lld ns, seed %llu, %d reps, %llu timed events "
              "(budget %.1f s per phase), warm-up min(N, %llu)\n",
              static_cast<long long>(kMinDelayNs), static_cast<long long>(kMaxDelayNs),
              static_cast<unsigned long long>(seed), reps,
              static_cast<unsigned long long>(events), budget,
              static_cast<unsigned long long>(warmup_cap));
  bool pattern_ok = true;
  for (uint64_t n : pending) {
    HoldConfig config;
    config.seed = seed;
    config.pending = n;
    config.warmup_events = std::min(n, warmup_cap);
    config.timed_events = events;
    config.budget_seconds = budget;
    std::map<std::string, std::vector<double>> rates;
    std::map<std::string, std::vector<double>> setup;
    std::map<std::string, uint64_t> timed;
    std::set<std::string> too_slow;
    uint64_t expect_hash = 0;
    for (int rep = 0; rep < reps; ++rep) {
      for (const Scheduler& s : chosen) {
        if (rep > 0 && too_slow.count(s.name) == 1) continue;
        const HoldResult r =
            s.type_id.empty() ? RunS3rdmaHold(config) : RunNs3Hold(s.type_id, config);
        rates[s.name].push_back(r.EventsPerSecond());
        setup[s.name].push_back(r.setup_seconds + r.warmup_seconds);
        if (r.setup_seconds + r.warmup_seconds + r.seconds > slow_rep) too_slow.insert(s.name);
        timed[s.name] += r.timed_events;
        if (expect_hash == 0) expect_hash = r.check_hash;
        if (r.check_hash != expect_hash) {
          std::fprintf(stderr,
                       "des_bench: error: %s executed a different event sequence at N=%llu "
                       "(check %016llx, expected %016llx, seed %llu)\n",
                       s.name.c_str(), static_cast<unsigned long long>(n),
                       static_cast<unsigned long long>(r.check_hash),
                       static_cast<unsigned long long>(expect_hash),
                       static_cast<unsigned long long>(seed));
          pattern_ok = false;
        }
        if (csv != nullptr) {
          std::fprintf(csv, "%llu,%s,%d,%llu,%.6f,%.0f,%016llx\n",
                       static_cast<unsigned long long>(n), s.name.c_str(), rep + 1,
                       static_cast<unsigned long long>(r.timed_events), r.seconds,
                       r.EventsPerSecond(), static_cast<unsigned long long>(r.check_hash));
        }
      }
    }
    std::printf("\nN = %llu pending (pattern check %016llx)\n",
                static_cast<unsigned long long>(n), static_cast<unsigned long long>(expect_hash));
    std::printf("  %-14s %12s %10s %10s %5s %11s %9s\n", "scheduler", "median ev/s", "min", "max",
                "reps", "events/rep", "setup s");
    double best_ns3 = 0;
    for (const Scheduler& s : chosen) {
      if (!s.type_id.empty()) best_ns3 = std::max(best_ns3, Median(rates[s.name]));
    }
    for (const Scheduler& s : chosen) {
      const auto& v = rates[s.name];
      std::printf("  %-14s %12s %10s %10s %5zu %11llu %9.2f", s.name.c_str(),
                  Rate(Median(v)).c_str(), Rate(*std::min_element(v.begin(), v.end())).c_str(),
                  Rate(*std::max_element(v.begin(), v.end())).c_str(), v.size(),
                  static_cast<unsigned long long>(timed[s.name] / v.size()),
                  Median(setup[s.name]));
      if (s.type_id.empty() && best_ns3 > 0) {
        std::printf("   %.2fx ns-3's best", Median(v) / best_ns3);
      }
      std::printf("\n");
    }
    std::fflush(stdout);
  }
  if (csv != nullptr) std::fclose(csv);
  return pattern_ok ? 0 : 1;
}

}  // namespace
}  // namespace s3rdma::bench

int main(int argc, char** argv) { return s3rdma::bench::Main(argc, argv); }
