// VirtualRuntime: a discrete-event scheduler in virtual time.
//
// Events run in order of (time, insertion sequence): two events for the same time run
// in the order they were scheduled (ns-3's EventKey). Time advances only by running
// events. Cancelled events never run; their storage is reclaimed at once and their heap
// entries lazily. The run is a pure function of what was scheduled: TraceHash() folds
// the (time, sequence) of every executed event, so two runs from the same seed can be
// compared with one number.
//
// The queue is an implicit 4-ary min-heap of 24-byte keys; callbacks live in a slab,
// so scheduling allocates nothing once the slab and heap have grown.
#ifndef S3RDMA_CORE_VIRTUAL_RUNTIME_H_
#define S3RDMA_CORE_VIRTUAL_RUNTIME_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "core/runtime.h"

namespace s3rdma::core {

class VirtualRuntime final : public Runtime {
 public:
  struct Stats {
    uint64_t scheduled = 0;  // events ever scheduled (Post + After)
    uint64_t executed = 0;   // events that ran
    uint64_t cancelled = 0;  // events cancelled before running
  };

  VirtualRuntime() = default;
  VirtualRuntime(const VirtualRuntime&) = delete;
  VirtualRuntime& operator=(const VirtualRuntime&) = delete;

  Time Now() const override { return now_; }
  void Post(Task task) override;
  TimerHandle After(Duration delay, Task task) override;

  // Runs events until none is left or Stop() is called. Returns the number run.
  uint64_t Run();
  // Runs events with time <= `limit`, then advances Now() to `limit` (unless stopped).
  uint64_t RunUntil(Time limit);
  // Runs at most `n` events.
  uint64_t RunEvents(uint64_t n);
  // Makes the current Run*/ call return after the event that is running now.
  void Stop() { stop_ = true; }

  // Live (scheduled, not yet run or cancelled) events.
  uint64_t pending() const { return stats_.scheduled - stats_.executed - stats_.cancelled; }
  // Time of the earliest live event, if any.
  std::optional<Time> NextEventTime();
  const Stats& stats() const { return stats_; }
  uint64_t TraceHash() const { return trace_hash_; }

 private:
  struct Key {
    int64_t time_ps;
    uint64_t seq;
    uint32_t slot;
    uint32_t gen;
  };
  struct Slot {
    Task task;
    uint32_t gen = 1;
    bool armed = false;
  };

  static bool Less(const Key& a, const Key& b) {
    return a.time_ps < b.time_ps || (a.time_ps == b.time_ps && a.seq < b.seq);
  }
  bool IsLive(const Key& k) const {
    const Slot& s = slots_[k.slot];
    return s.armed && s.gen == k.gen;
  }

  uint64_t Schedule(int64_t time_ps, Task task);
  void HeapPush(const Key& k);
  void HeapPopTop();
  void DropStaleTop();
  void CompactIfMostlyStale();
  void ReleaseSlot(uint32_t slot);
  // Pops and runs the earliest live event. REQUIRES: a live event exists.
  void RunTop();

  bool CancelTimer(uint64_t id) override;
  bool TimerPending(uint64_t id) const override;

  Time now_;
  uint64_t next_seq_ = 0;
  bool stop_ = false;
  uint64_t stale_in_heap_ = 0;
  uint64_t trace_hash_ = 0xcbf29ce484222325ULL;
  Stats stats_;
  std::vector<Key> heap_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
};

}  // namespace s3rdma::core

#endif  // S3RDMA_CORE_VIRTUAL_RUNTIME_H_
