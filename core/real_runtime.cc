#include "core/real_runtime.h"

#include <chrono>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/check.h"

namespace s3rdma::core {

struct RealRuntime::Impl {
  boost::asio::io_context io;
  std::chrono::steady_clock::time_point epoch = std::chrono::steady_clock::now();
  uint64_t next_id = 1;
  // Timers are owned here until they fire or are cancelled.
  std::unordered_map<uint64_t, std::unique_ptr<boost::asio::steady_timer>> timers;
};

RealRuntime::RealRuntime() : impl_(std::make_unique<Impl>()) {}
RealRuntime::~RealRuntime() = default;

Time RealRuntime::Now() const {
  auto since = std::chrono::steady_clock::now() - impl_->epoch;
  return Time::FromPicoseconds(
      std::chrono::duration_cast<std::chrono::nanoseconds>(since).count() * 1000);
}

void RealRuntime::Post(Task task) { boost::asio::post(impl_->io, std::move(task)); }

TimerHandle RealRuntime::After(Duration delay, Task task) {
  S3_CHECK_MSG(delay >= Duration::Zero(), "After() with a negative delay");
  const uint64_t id = impl_->next_id++;
  auto timer = std::make_unique<boost::asio::steady_timer>(impl_->io);
  // Round up so a timer never fires before its delay has passed.
  timer->expires_after(std::chrono::nanoseconds((delay.ps() + 999) / 1000));
  timer->async_wait([this, id, task = std::move(task)](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled
    auto it = impl_->timers.find(id);
    if (it == impl_->timers.end()) return;
    // Keep the timer object alive until this handler returns.
    std::unique_ptr<boost::asio::steady_timer> self = std::move(it->second);
    impl_->timers.erase(it);
    task();
  });
  impl_->timers.emplace(id, std::move(timer));
  return MakeTimerHandle(id);
}

bool RealRuntime::CancelTimer(uint64_t id) {
  auto it = impl_->timers.find(id);
  if (it == impl_->timers.end()) return false;
  // Destroying an Asio timer cancels its wait; the handler then sees operation_aborted
  // and does not touch the (gone) timer.
  impl_->timers.erase(it);
  return true;
}

bool RealRuntime::TimerPending(uint64_t id) const { return impl_->timers.count(id) != 0; }

void RealRuntime::Run() {
  impl_->io.restart();
  impl_->io.run();
}

void RealRuntime::RunFor(Duration d) {
  impl_->io.restart();
  impl_->io.run_for(std::chrono::nanoseconds(d.ns()));
}

void RealRuntime::Stop() { impl_->io.stop(); }

size_t RealRuntime::pending_timers() const { return impl_->timers.size(); }

boost::asio::io_context& RealRuntime::io() { return impl_->io; }

}  // namespace s3rdma::core
