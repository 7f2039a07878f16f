#include "core/virtual_runtime.h"

#include <algorithm>
#include <utility>

#include "core/check.h"

namespace s3rdma::core {

bool TimerHandle::Cancel() { return runtime_ != nullptr && runtime_->CancelTimer(id_); }
bool TimerHandle::Pending() const { return runtime_ != nullptr && runtime_->TimerPending(id_); }

TimerHandle Runtime::At(Time when, Task task) {
  const Time now = Now();
  return After(when > now ? when - now : Duration::Zero(), std::move(task));
}

void VirtualRuntime::Post(Task task) { Schedule(now_.ps(), std::move(task)); }

TimerHandle VirtualRuntime::After(Duration delay, Task task) {
  S3_CHECK_MSG(delay >= Duration::Zero(), "After() with a negative delay");
  return MakeTimerHandle(Schedule(now_.ps() + delay.ps(), std::move(task)));
}

uint64_t VirtualRuntime::Schedule(int64_t time_ps, Task task) {
  S3_CHECK_MSG(time_ps >= 0, "event time overflow");
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    S3_CHECK(slots_.size() < UINT32_MAX);
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.task = std::move(task);
  s.armed = true;
  QueuePush(Key{time_ps, next_seq_++, slot, s.gen});
  ++stats_.scheduled;
  return (static_cast<uint64_t>(s.gen) << 32) | slot;
}

void VirtualRuntime::QueuePush(const Key& k) {
  ++queued_;
  const uint64_t t = static_cast<uint64_t>(k.time_ps);
  if (t < base_) {
    early_.push_back(k);
    std::push_heap(early_.begin(), early_.end(), [](const Key& a, const Key& b) { return Less(b, a); });
    return;
  }
  const int b = BucketOf(t, base_);
  buckets_[b].push_back(k);  // into bucket 0 only with time == base_: the largest seq so far
  if (b != 0) nonempty_ |= uint64_t{1} << b;
}

void VirtualRuntime::Redistribute() {
  const int i = __builtin_ctzll(nonempty_);
  std::vector<Key>& src = buckets_[i];
  uint64_t min_time = UINT64_MAX;
  for (const Key& k : src) min_time = std::min(min_time, static_cast<uint64_t>(k.time_ps));
  base_ = min_time;
  // The keys of the lowest non-empty bucket are the next ones to run (unless something
  // earlier is scheduled meanwhile), so when there are few, fetch their slots into the
  // cache now: that miss, not the queue, dominates the cost of an event in a big queue.
  if (src.size() <= 64) {
    for (const Key& k : src) {
      const char* p = reinterpret_cast<const char*>(&slots_[k.slot]);
      __builtin_prefetch(p);
      __builtin_prefetch(p + sizeof(Slot) - 1);
    }
  }
  // Every key of bucket i agrees with the new base above bit i-1, so it lands below i.
  for (const Key& k : src) {
    const int b = BucketOf(static_cast<uint64_t>(k.time_ps), base_);
    buckets_[b].push_back(k);
    if (b != 0) nonempty_ |= uint64_t{1} << b;
  }
  src.clear();
  nonempty_ &= ~(uint64_t{1} << i);
  std::vector<Key>& zero = buckets_[0];
  if (zero.size() > 1) {
    std::sort(zero.begin(), zero.end(), [](const Key& a, const Key& b) { return a.seq < b.seq; });
  }
}

const VirtualRuntime::Key& VirtualRuntime::QueueTop() {
  std::vector<Key>& zero = buckets_[0];
  if (head0_ == zero.size()) {
    zero.clear();
    head0_ = 0;
    if (nonempty_ != 0) Redistribute();
  }
  top_is_early_ = head0_ == zero.size() || (!early_.empty() && Less(early_.front(), zero[head0_]));
  return top_is_early_ ? early_.front() : zero[head0_];
}

void VirtualRuntime::QueuePop() {
  --queued_;
  if (top_is_early_) {
    std::pop_heap(early_.begin(), early_.end(), [](const Key& a, const Key& b) { return Less(b, a); });
    early_.pop_back();
    return;
  }
  std::vector<Key>& zero = buckets_[0];
  ++head0_;
  // Many events at one instant (Post from Post ...) must not grow bucket 0 forever.
  if (head0_ >= 4096 && head0_ * 2 >= zero.size()) {
    zero.erase(zero.begin(), zero.begin() + static_cast<std::ptrdiff_t>(head0_));
    head0_ = 0;
  }
}

void VirtualRuntime::DropStaleTop() {
  while (!QueueEmpty() && !IsLive(QueueTop())) {
    QueuePop();
    --stale_in_heap_;
  }
}

void VirtualRuntime::CompactIfMostlyStale() {
  if (queued_ < 4096 || stale_in_heap_ * 2 < queued_) return;
  auto stale = [this](const Key& k) { return !IsLive(k); };
  std::vector<Key>& zero = buckets_[0];
  zero.erase(zero.begin(), zero.begin() + static_cast<std::ptrdiff_t>(head0_));
  head0_ = 0;
  for (int b = 0; b < kBuckets; ++b) {
    std::erase_if(buckets_[b], stale);
    if (b != 0 && buckets_[b].empty()) nonempty_ &= ~(uint64_t{1} << b);
  }
  std::erase_if(early_, stale);
  std::make_heap(early_.begin(), early_.end(), [](const Key& a, const Key& b) { return Less(b, a); });
  queued_ -= stale_in_heap_;
  stale_in_heap_ = 0;
}

void VirtualRuntime::ReleaseSlot(uint32_t slot) {
  Slot& s = slots_[slot];
  s.armed = false;
  ++s.gen;
  free_slots_.push_back(slot);
}

void VirtualRuntime::RunTop() {
  const Key top = QueueTop();
  QueuePop();
  Task task = std::move(slots_[top.slot].task);
  ReleaseSlot(top.slot);
  now_ = Time::FromPicoseconds(top.time_ps);
  ++stats_.executed;
  trace_hash_ = (trace_hash_ ^ static_cast<uint64_t>(top.time_ps)) * 0x100000001b3ULL;
  trace_hash_ = (trace_hash_ ^ top.seq) * 0x100000001b3ULL;
  task();
}

uint64_t VirtualRuntime::Run() {
  stop_ = false;
  uint64_t ran = 0;
  while (!stop_) {
    DropStaleTop();
    if (QueueEmpty()) break;
    RunTop();
    ++ran;
  }
  stop_ = false;
  return ran;
}

uint64_t VirtualRuntime::RunUntil(Time limit) {
  stop_ = false;
  uint64_t ran = 0;
  while (!stop_) {
    DropStaleTop();
    if (QueueEmpty() || QueueTop().time_ps > limit.ps()) break;
    RunTop();
    ++ran;
  }
  if (!stop_ && now_ < limit) now_ = limit;
  stop_ = false;
  return ran;
}

uint64_t VirtualRuntime::RunEvents(uint64_t n) {
  stop_ = false;
  uint64_t ran = 0;
  while (!stop_ && ran < n) {
    DropStaleTop();
    if (QueueEmpty()) break;
    RunTop();
    ++ran;
  }
  stop_ = false;
  return ran;
}

std::optional<Time> VirtualRuntime::NextEventTime() {
  DropStaleTop();
  if (QueueEmpty()) return std::nullopt;
  return Time::FromPicoseconds(QueueTop().time_ps);
}

bool VirtualRuntime::CancelTimer(uint64_t id) {
  const uint32_t slot = static_cast<uint32_t>(id);
  const uint32_t gen = static_cast<uint32_t>(id >> 32);
  if (slot >= slots_.size()) return false;
  Slot& s = slots_[slot];
  if (!s.armed || s.gen != gen) return false;
  s.task = nullptr;  // release captures now, not when the heap entry surfaces
  ReleaseSlot(slot);
  ++stats_.cancelled;
  ++stale_in_heap_;
  CompactIfMostlyStale();
  return true;
}

bool VirtualRuntime::TimerPending(uint64_t id) const {
  const uint32_t slot = static_cast<uint32_t>(id);
  const uint32_t gen = static_cast<uint32_t>(id >> 32);
  return slot < slots_.size() && slots_[slot].armed && slots_[slot].gen == gen;
}

}  // namespace s3rdma::core
