// RealRuntime: the Runtime interface on a Boost.Asio io_context and the steady clock.
//
// Now() is the steady-clock time since construction. Sockets and other Asio objects of
// the real world (the UDP fabric, the HTTP server) run on io(). Post() may be called from
// any thread; everything else, and every task, runs on the thread that calls Run*().
// Asio headers stay out of this header: callers that need io() include Asio themselves.
#ifndef S3RDMA_CORE_REAL_RUNTIME_H_
#define S3RDMA_CORE_REAL_RUNTIME_H_

#include <memory>

#include "core/runtime.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace s3rdma::core {

class RealRuntime final : public Runtime {
 public:
  RealRuntime();
  ~RealRuntime() override;
  RealRuntime(const RealRuntime&) = delete;
  RealRuntime& operator=(const RealRuntime&) = delete;

  Time Now() const override;
  void Post(Task task) override;  // thread-safe
  TimerHandle After(Duration delay, Task task) override;

  // Runs until there is no more work or Stop() is called.
  void Run();
  // Runs for at most `d` of wall time (returns earlier if there is no more work).
  void RunFor(Duration d);
  // Makes Run/RunFor return as soon as possible. Thread-safe.
  void Stop();
  // Number of timers not yet fired or cancelled.
  size_t pending_timers() const;

  boost::asio::io_context& io();

 private:
  bool CancelTimer(uint64_t id) override;
  bool TimerPending(uint64_t id) const override;

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace s3rdma::core

#endif  // S3RDMA_CORE_REAL_RUNTIME_H_
