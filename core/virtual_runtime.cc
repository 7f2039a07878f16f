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
  HeapPush(Key{time_ps, next_seq_++, slot, s.gen});
  ++stats_.scheduled;
  return (static_cast<uint64_t>(s.gen) << 32) | slot;
}

void VirtualRuntime::HeapPush(const Key& k) {
  heap_.push_back(k);
  size_t i = heap_.size() - 1;
  while (i > 0) {
    size_t parent = (i - 1) / 4;
    if (!Less(k, heap_[parent])) break;
    heap_[i] = heap_[parent];
    i = parent;
  }
  heap_[i] = k;
}

void VirtualRuntime::HeapPopTop() {
  const Key last = heap_.back();
  heap_.pop_back();
  const size_t n = heap_.size();
  if (n == 0) return;
  size_t i = 0;
  for (;;) {
    size_t child = 4 * i + 1;
    if (child >= n) break;
    size_t best = child;
    const size_t end = std::min(child + 4, n);
    for (size_t c = child + 1; c < end; ++c) {
      if (Less(heap_[c], heap_[best])) best = c;
    }
    if (!Less(heap_[best], last)) break;
    heap_[i] = heap_[best];
    i = best;
  }
  heap_[i] = last;
}

void VirtualRuntime::DropStaleTop() {
  while (!heap_.empty() && !IsLive(heap_.front())) {
    HeapPopTop();
    --stale_in_heap_;
  }
}

void VirtualRuntime::CompactIfMostlyStale() {
  if (heap_.size() < 4096 || stale_in_heap_ * 2 < heap_.size()) return;
  std::vector<Key> live;
  live.reserve(heap_.size() - stale_in_heap_);
  for (const Key& k : heap_) {
    if (IsLive(k)) live.push_back(k);
  }
  heap_.clear();
  for (const Key& k : live) HeapPush(k);
  stale_in_heap_ = 0;
}

void VirtualRuntime::ReleaseSlot(uint32_t slot) {
  Slot& s = slots_[slot];
  s.armed = false;
  ++s.gen;
  free_slots_.push_back(slot);
}

void VirtualRuntime::RunTop() {
  const Key top = heap_.front();
  HeapPopTop();
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
    if (heap_.empty()) break;
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
    if (heap_.empty() || heap_.front().time_ps > limit.ps()) break;
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
    if (heap_.empty()) break;
    RunTop();
    ++ran;
  }
  stop_ = false;
  return ran;
}

std::optional<Time> VirtualRuntime::NextEventTime() {
  DropStaleTop();
  if (heap_.empty()) return std::nullopt;
  return Time::FromPicoseconds(heap_.front().time_ps);
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
