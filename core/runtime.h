// The Runtime interface: the only way protocol code sees time and schedules work.
//
// Protocol code (emu's RC engine, proto's client and server) never reads the wall clock
// or starts threads; it calls Now(), Post() and After() on a Runtime passed to it by
// reference. VirtualRuntime (discrete-event, virtual time) and RealRuntime (Boost.Asio,
// steady clock) implement it, so the same code runs in simulation and for real.
//
// Threading: a Runtime and everything scheduled on it run on one thread. Only
// RealRuntime::Post may be called from other threads (see real_runtime.h).
#ifndef S3RDMA_CORE_RUNTIME_H_
#define S3RDMA_CORE_RUNTIME_H_

#include <cstdint>
#include <functional>

#include "core/time.h"

namespace s3rdma::core {

class Runtime;

// A handle to a scheduled timer. Copyable, does not own the timer: destroying the handle
// does not cancel it. A default-constructed handle refers to no timer.
// REQUIRES: the runtime outlives every handle that is used.
class TimerHandle {
 public:
  TimerHandle() = default;
  // Prevents the task from running. Returns true if the timer was pending (so it will now
  // never run), false if it already ran, was cancelled, or the handle is empty.
  bool Cancel();
  // True while the task has neither run nor been cancelled.
  bool Pending() const;

 private:
  friend class Runtime;
  TimerHandle(Runtime* runtime, uint64_t id) : runtime_(runtime), id_(id) {}
  Runtime* runtime_ = nullptr;
  uint64_t id_ = 0;
};

class Runtime {
 public:
  using Task = std::function<void()>;

  virtual ~Runtime() = default;

  // Current time since this runtime's epoch.
  virtual Time Now() const = 0;
  // Runs `task` soon, at the current time, after tasks already posted for now.
  virtual void Post(Task task) = 0;
  // Runs `task` once `delay` has passed. REQUIRES: delay >= 0.
  virtual TimerHandle After(Duration delay, Task task) = 0;
  // Runs `task` at `when` (immediately-ish if `when` is in the past).
  TimerHandle At(Time when, Task task);

 protected:
  friend class TimerHandle;
  virtual bool CancelTimer(uint64_t id) = 0;
  virtual bool TimerPending(uint64_t id) const = 0;
  TimerHandle MakeTimerHandle(uint64_t id) { return TimerHandle(this, id); }
};

}  // namespace s3rdma::core

#endif  // S3RDMA_CORE_RUNTIME_H_
