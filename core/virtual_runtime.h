// VirtualRuntime: a discrete-event scheduler in virtual time.
//
// Events run in order of (time, insertion sequence): two events for the same time run
// in the order they were scheduled (ns-3's EventKey). Time advances only by running
// events. Cancelled events never run; their storage is reclaimed at once and their queue
// entries lazily. The run is a pure function of what was scheduled: TraceHash() folds
// the (time, sequence) of every executed event, so two runs from the same seed can be
// compared with one number.
//
// The queue is a radix heap (Ahuja, Mehlhorn, Orlin, Tarjan 1990) over event times:
// virtual time never goes backwards, so every key is >= the last key taken out, and a
// key lives in bucket b = (index of the highest bit where it differs from that last
// key). Scheduling appends to a bucket; taking the minimum empties the lowest non-empty
// bucket into lower ones. Both are sequential memory passes, which is why this beats a
// binary/4-ary heap by several times once the queue outgrows the caches (bench/des).
// Bucket 0 holds the keys equal to the last one, kept in sequence order, so ties run
// FIFO. A key below the radix base (possible after NextEventTime()/RunUntil() looked
// past Now(), or after a cancelled entry was dropped) goes to a small binary heap
// `early_` that is merged at the top. Callbacks live in a slab, so scheduling allocates
// nothing once the slab and buckets have grown.
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

  static constexpr int kBuckets = 64;  // times are >= 0, so bit 63 never differs

  static int BucketOf(uint64_t time, uint64_t base) {
    const uint64_t x = time ^ base;
    return x == 0 ? 0 : 64 - __builtin_clzll(x);
  }

  uint64_t Schedule(int64_t time_ps, Task task);
  void QueuePush(const Key& k);
  bool QueueEmpty() const { return queued_ == 0; }
  // The earliest queued key (live or stale). REQUIRES: !QueueEmpty().
  const Key& QueueTop();
  // Removes QueueTop(). REQUIRES: QueueTop() was just called.
  void QueuePop();
  // Moves the lowest non-empty bucket >= 1 into lower buckets. REQUIRES: bucket 0 empty.
  void Redistribute();
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
  uint64_t stale_in_heap_ = 0;  // cancelled entries still in the queue
  uint64_t trace_hash_ = 0xcbf29ce484222325ULL;
  Stats stats_;
  // Radix heap: every key in buckets_ has time >= base_ and sits in BucketOf(time, base_);
  // bucket 0 (keys with time == base_) is consumed from head0_ on, in seq order.
  std::vector<Key> buckets_[kBuckets];
  uint64_t nonempty_ = 0;  // bit b set iff buckets_[b] is non-empty, for b >= 1
  size_t head0_ = 0;
  uint64_t base_ = 0;
  std::vector<Key> early_;  // binary min-heap of keys scheduled below base_
  bool top_is_early_ = false;
  uint64_t queued_ = 0;  // keys in buckets_ (from head0_) and early_, live or stale
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
};

}  // namespace s3rdma::core

#endif  // S3RDMA_CORE_VIRTUAL_RUNTIME_H_
