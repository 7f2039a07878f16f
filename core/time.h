// Integer time: Duration (a signed span) and Time (a point since the runtime's epoch).
//
// Both count picoseconds in an int64_t: one byte on a 400 Gb/s link is 20 ps, so packet
// timing stays exact, and the range is about +-106 days. Never use double seconds for
// time; ToSeconds() exists for reports only.
#ifndef S3RDMA_CORE_TIME_H_
#define S3RDMA_CORE_TIME_H_

#include <compare>
#include <cstdint>
#include <limits>

namespace s3rdma::core {

class Duration {
 public:
  constexpr Duration() = default;

  static constexpr Duration Picoseconds(int64_t v) { return Duration(v); }
  static constexpr Duration Nanoseconds(int64_t v) { return Duration(v * 1000); }
  static constexpr Duration Microseconds(int64_t v) { return Duration(v * 1000'000); }
  static constexpr Duration Milliseconds(int64_t v) { return Duration(v * 1000'000'000); }
  static constexpr Duration Seconds(int64_t v) { return Duration(v * 1000'000'000'000); }
  static constexpr Duration Zero() { return Duration(0); }
  static constexpr Duration Max() { return Duration(std::numeric_limits<int64_t>::max()); }

  constexpr int64_t ps() const { return ps_; }
  constexpr int64_t ns() const { return ps_ / 1000; }  // truncates toward zero
  constexpr int64_t us() const { return ps_ / 1000'000; }
  constexpr double ToSeconds() const { return static_cast<double>(ps_) * 1e-12; }

  constexpr Duration operator+(Duration o) const { return Duration(ps_ + o.ps_); }
  constexpr Duration operator-(Duration o) const { return Duration(ps_ - o.ps_); }
  constexpr Duration operator*(int64_t k) const { return Duration(ps_ * k); }
  constexpr Duration operator/(int64_t k) const { return Duration(ps_ / k); }
  constexpr int64_t operator/(Duration o) const { return ps_ / o.ps_; }
  constexpr Duration& operator+=(Duration o) { ps_ += o.ps_; return *this; }
  constexpr Duration& operator-=(Duration o) { ps_ -= o.ps_; return *this; }
  constexpr auto operator<=>(const Duration&) const = default;

 private:
  constexpr explicit Duration(int64_t ps) : ps_(ps) {}
  int64_t ps_ = 0;
};

class Time {
 public:
  constexpr Time() = default;

  static constexpr Time FromPicoseconds(int64_t ps) { return Time(ps); }
  static constexpr Time Zero() { return Time(0); }
  static constexpr Time Max() { return Time(std::numeric_limits<int64_t>::max()); }

  constexpr int64_t ps() const { return ps_; }
  constexpr int64_t ns() const { return ps_ / 1000; }
  constexpr Duration SinceEpoch() const { return Duration::Picoseconds(ps_); }
  constexpr double ToSeconds() const { return static_cast<double>(ps_) * 1e-12; }

  constexpr Time operator+(Duration d) const { return Time(ps_ + d.ps()); }
  constexpr Time operator-(Duration d) const { return Time(ps_ - d.ps()); }
  constexpr Duration operator-(Time o) const { return Duration::Picoseconds(ps_ - o.ps_); }
  constexpr Time& operator+=(Duration d) { ps_ += d.ps(); return *this; }
  constexpr auto operator<=>(const Time&) const = default;

 private:
  constexpr explicit Time(int64_t ps) : ps_(ps) {}
  int64_t ps_ = 0;
};

}  // namespace s3rdma::core

#endif  // S3RDMA_CORE_TIME_H_
