// Sizes, rates and counts, with parsing and printing of human units.
//
// Parsing accepts a decimal number and a unit: "400Gbps", "35GB/s", "64MiB", "2us",
// "100M", "1.5 ms". Values are exact: "0.5ns" is 500 ps; a value that is not a whole
// number of the base unit ("1.5B", "0.1ps") or that overflows is an error, never rounded.
// Errors are InvalidArgument with a message that names the text and the accepted units.
#ifndef S3RDMA_CORE_UNITS_H_
#define S3RDMA_CORE_UNITS_H_

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/time.h"

namespace s3rdma::core {

// A number of bytes.
class Bytes {
 public:
  constexpr Bytes() = default;
  constexpr explicit Bytes(int64_t n) : n_(n) {}
  static constexpr Bytes KiB(int64_t v) { return Bytes(v << 10); }
  static constexpr Bytes MiB(int64_t v) { return Bytes(v << 20); }
  static constexpr Bytes GiB(int64_t v) { return Bytes(v << 30); }

  constexpr int64_t count() const { return n_; }
  constexpr Bytes operator+(Bytes o) const { return Bytes(n_ + o.n_); }
  constexpr Bytes operator-(Bytes o) const { return Bytes(n_ - o.n_); }
  constexpr Bytes operator*(int64_t k) const { return Bytes(n_ * k); }
  constexpr Bytes& operator+=(Bytes o) { n_ += o.n_; return *this; }
  constexpr auto operator<=>(const Bytes&) const = default;

 private:
  int64_t n_ = 0;
};

// A data rate in bits per second (like ns-3's DataRate).
class DataRate {
 public:
  constexpr DataRate() = default;
  static constexpr DataRate BitsPerSecond(int64_t bps) { return DataRate(bps); }
  static constexpr DataRate Gbps(int64_t v) { return DataRate(v * 1000'000'000); }
  static constexpr DataRate BytesPerSecond(int64_t v) { return DataRate(v * 8); }

  constexpr int64_t bps() const { return bps_; }
  constexpr double BytesPerSecondF() const { return static_cast<double>(bps_) / 8.0; }

  // Time to serialise `bytes` at this rate, rounded up to the next picosecond.
  // REQUIRES: bps() > 0.
  Duration TransmitTime(Bytes bytes) const;
  // Whole bytes that fit in `d` at this rate (rounded down).
  Bytes BytesIn(Duration d) const;

  constexpr auto operator<=>(const DataRate&) const = default;

 private:
  constexpr explicit DataRate(int64_t bps) : bps_(bps) {}
  int64_t bps_ = 0;
};

// Parsers. Units (case-sensitive where b/B matters):
//   Duration: ps ns us ms s min h                              ("2us", "4.096us")
//   Bytes:    B KB MB GB TB PB (1000^k) KiB MiB GiB TiB PiB; bare number = bytes
//   DataRate: bps Kbps Mbps Gbps Tbps (also Gb/s), B/s KB/s MB/s GB/s TB/s KiB/s ... GiB/s
//   Count:    bare number, K k M G T (1000^k)                   ("100M" = 100'000'000)
Result<Duration> ParseDuration(std::string_view text);
Result<Bytes> ParseBytes(std::string_view text);
Result<DataRate> ParseDataRate(std::string_view text);
Result<int64_t> ParseCount(std::string_view text);

// Printing, shortest exact form where one exists, else three decimals:
// "2us", "4.096us", "64MiB", "35GB", "400Gbps", "1.5Gbps".
std::string ToString(Duration d);
std::string ToString(Time t);
std::string ToString(Bytes b);
std::string ToString(DataRate r);
// A rate printed in bytes per second: "35GB/s".
std::string ToBytesPerSecondString(DataRate r);

}  // namespace s3rdma::core

#endif  // S3RDMA_CORE_UNITS_H_
