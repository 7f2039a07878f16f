// The hold-model workload shared by both sides of bench/des.
//
// N events are pending at all times: the run starts by scheduling N events at uniformly
// random delays of 1..100000 ns, and every executed event schedules exactly one new event
// at a uniformly random delay of 1..100000 ns. The delays come from one core::Rng seeded
// identically for every scheduler and drawn in execution order, so every scheduler sees
// the same sequence of (time, insertion order) keys and must execute the same sequence
// of event times. The first kCheckEvents executed event times are folded into a hash;
// the driver checks that every scheduler produced the same hash.
#ifndef S3RDMA_BENCH_DES_HOLD_H_
#define S3RDMA_BENCH_DES_HOLD_H_

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

namespace s3rdma::bench {

struct HoldConfig {
  uint64_t seed = 1;
  uint64_t pending = 1000;       // N, kept constant
  uint64_t warmup_events = 0;    // run untimed first (cut short by the budget)
  uint64_t timed_events = 0;     // then time this many (cut short by the budget)
  // Wall-time limit of the warm-up and, separately, of the timed phase: a pathologically
  // slow scheduler is measured on fewer events instead of stalling the run. The timed
  // phase always runs until kCheckEvents events have executed in total.
  double budget_seconds = 2.0;
};

struct HoldResult {
  uint64_t timed_events = 0;
  double seconds = 0;            // wall time of the timed phase
  double setup_seconds = 0;      // filling the queue (untimed)
  double warmup_seconds = 0;     // warm-up (untimed)
  uint64_t check_hash = 0;       // hash of the first kCheckEvents event times (ns)
  uint64_t executed = 0;         // total events executed (warm-up + timed)

  double EventsPerSecond() const { return seconds > 0 ? timed_events / seconds : 0; }
};

inline constexpr uint64_t kCheckEvents = 16384;
inline constexpr int64_t kMinDelayNs = 1;
inline constexpr int64_t kMaxDelayNs = 100000;

// Folds one executed event time into the pattern check hash (FNV-1a step).
inline uint64_t FoldCheck(uint64_t h, int64_t time_ns) {
  return (h ^ static_cast<uint64_t>(time_ns)) * 0x100000001b3ULL;
}
inline constexpr uint64_t kCheckSeed = 0xcbf29ce484222325ULL;

// What each side's event handler updates: draw, schedule, then NoteExecuted(now).
struct HoldCounters {
  uint64_t executed = 0;
  uint64_t stop_at = 0;  // the handler stops its simulator when `executed` reaches this
  uint64_t check = kCheckSeed;

  // Returns true when the simulator should stop after this event.
  bool NoteExecuted(int64_t now_ns) {
    if (executed < kCheckEvents) check = FoldCheck(check, now_ns);
    return ++executed == stop_at;
  }
};

// The phases of one repetition, identical for both sides: `fill()` schedules the N
// initial events; `run()` runs the simulator until the handler stops it (after
// `counters.stop_at` events). Runs in chunks so that the budget can cut a phase short.
template <class Fill, class Run>
HoldResult DriveHold(const HoldConfig& config, HoldCounters& counters, Fill fill, Run run) {
  using Clock = std::chrono::steady_clock;
  constexpr uint64_t kChunk = 16384;
  auto since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  HoldResult result;
  const auto setup_start = Clock::now();
  fill();
  result.setup_seconds = since(setup_start);

  const auto warmup_start = Clock::now();
  while (counters.executed < config.warmup_events && since(warmup_start) < config.budget_seconds) {
    counters.stop_at = std::min(config.warmup_events, counters.executed + kChunk);
    run();
  }
  result.warmup_seconds = since(warmup_start);

  const uint64_t start_executed = counters.executed;
  const uint64_t end = start_executed + config.timed_events;
  const auto start = Clock::now();
  double elapsed = 0;
  while (counters.executed < end) {
    counters.stop_at = std::min(end, counters.executed + kChunk);
    run();
    elapsed = since(start);
    if (elapsed > config.budget_seconds && counters.executed >= kCheckEvents) break;
  }
  result.seconds = elapsed;
  result.timed_events = counters.executed - start_executed;
  result.executed = counters.executed;
  result.check_hash = counters.check;
  return result;
}

// s3rdma's core::VirtualRuntime (s3rdma_hold.cc).
HoldResult RunS3rdmaHold(const HoldConfig& config);

// ns-3's simulator with the scheduler whose TypeId is `type_id`, e.g. "ns3::MapScheduler"
// (ns3_hold.cc). Uses (and destroys) ns-3's global simulator.
HoldResult RunNs3Hold(const std::string& type_id, const HoldConfig& config);

}  // namespace s3rdma::bench

#endif  // S3RDMA_BENCH_DES_HOLD_H_
