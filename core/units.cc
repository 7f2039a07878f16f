#include "core/units.h"

#include <array>
#include <cstdio>
#include <string>

namespace s3rdma::core {
namespace {

using i128 = __int128;
constexpr i128 kMaxValue = std::numeric_limits<int64_t>::max();

struct Unit {
  std::string_view name;
  i128 factor;  // base units per 1 of this unit
};

struct Decimal {
  i128 mantissa = 0;  // digits without the point
  int scale = 0;      // number of digits after the point
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

i128 Pow10(int n) {
  i128 v = 1;
  for (int i = 0; i < n; ++i) v *= 10;
  return v;
}

// Parses "<decimal><spaces><unit>" against `units`; `what` names the quantity in errors.
Result<int64_t> ParseWithUnits(std::string_view text, std::string_view what,
                               const Unit* units, size_t unit_count, std::string_view accepted) {
  const std::string quoted = "'" + std::string(text) + "'";
  std::string_view s = Trim(text);
  if (s.empty()) return Status::InvalidArgument(std::string(what) + " is empty");
  if (s.front() == '-') {
    return Status::InvalidArgument(std::string(what) + " " + quoted + " must not be negative");
  }
  if (s.front() == '+') s.remove_prefix(1);
  Decimal num;
  size_t i = 0;
  int digits = 0;
  bool seen_point = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c >= '0' && c <= '9') {
      if (++digits > 30) {
        return Status::InvalidArgument(std::string(what) + " " + quoted + " has too many digits");
      }
      num.mantissa = num.mantissa * 10 + (c - '0');
      if (seen_point) ++num.scale;
    } else if (c == '.' && !seen_point) {
      seen_point = true;
    } else if (c == '_' || c == '\'') {
      continue;  // digit separators: "100_000"
    } else {
      break;
    }
  }
  if (digits == 0 || (seen_point && num.scale == 0)) {
    return Status::InvalidArgument(std::string(what) + " " + quoted +
                                   " does not start with a number (expected e.g. " +
                                   std::string(accepted) + ")");
  }
  std::string_view unit = Trim(s.substr(i));
  const Unit* match = nullptr;
  for (size_t u = 0; u < unit_count; ++u) {
    if (units[u].name == unit) {
      match = &units[u];
      break;
    }
  }
  if (match == nullptr) {
    if (unit.empty()) {
      return Status::InvalidArgument(std::string(what) + " " + quoted +
                                     " needs a unit (one of " + std::string(accepted) + ")");
    }
    return Status::InvalidArgument(std::string(what) + " " + quoted + " has unknown unit '" +
                                   std::string(unit) + "' (one of " + std::string(accepted) + ")");
  }
  i128 scaled = num.mantissa * match->factor;  // < 1e30 * 1e24: fits in 128 bits
  i128 div = Pow10(num.scale);
  if (scaled % div != 0) {
    return Status::InvalidArgument(std::string(what) + " " + quoted +
                                   " is not a whole number of the base unit");
  }
  i128 value = scaled / div;
  if (value > kMaxValue) {
    return Status::InvalidArgument(std::string(what) + " " + quoted + " is too large");
  }
  return static_cast<int64_t>(value);
}

constexpr i128 k1e3 = 1000;
constexpr i128 k1e6 = k1e3 * k1e3;
constexpr i128 k1e9 = k1e6 * k1e3;
constexpr i128 k1e12 = k1e9 * k1e3;
constexpr i128 k1e15 = k1e12 * k1e3;

const Unit kDurationUnits[] = {
    {"ps", 1},          {"ns", k1e3},          {"us", k1e6},          {"\xC2\xB5s", k1e6},
    {"ms", k1e9},       {"s", k1e12},          {"min", 60 * k1e12},   {"h", 3600 * k1e12},
};
const Unit kByteUnits[] = {
    {"", 1},           {"B", 1},
    {"KB", k1e3},      {"kB", k1e3},          {"MB", k1e6},          {"GB", k1e9},
    {"TB", k1e12},     {"PB", k1e15},
    {"KiB", i128{1} << 10}, {"MiB", i128{1} << 20}, {"GiB", i128{1} << 30},
    {"TiB", i128{1} << 40}, {"PiB", i128{1} << 50},
};
const Unit kRateUnits[] = {
    {"bps", 1},        {"Kbps", k1e3},        {"kbps", k1e3},        {"Mbps", k1e6},
    {"Gbps", k1e9},    {"Tbps", k1e12},       {"b/s", 1},            {"Kb/s", k1e3},
    {"kb/s", k1e3},    {"Mb/s", k1e6},        {"Gb/s", k1e9},        {"Tb/s", k1e12},
    {"B/s", 8},        {"KB/s", 8 * k1e3},    {"kB/s", 8 * k1e3},    {"MB/s", 8 * k1e6},
    {"GB/s", 8 * k1e9}, {"TB/s", 8 * k1e12},
    {"KiB/s", 8 * (i128{1} << 10)}, {"MiB/s", 8 * (i128{1} << 20)},
    {"GiB/s", 8 * (i128{1} << 30)}, {"TiB/s", 8 * (i128{1} << 40)},
};
const Unit kCountUnits[] = {
    {"", 1}, {"K", k1e3}, {"k", k1e3}, {"M", k1e6}, {"G", k1e9}, {"T", k1e12},
};

// Formats value/factor with up to three decimals, trailing zeros trimmed.
std::string FormatScaled(i128 value, i128 factor, std::string_view unit) {
  bool neg = value < 0;
  if (neg) value = -value;
  i128 milli = (value * 1000 + factor / 2) / factor;  // rounded to 3 decimals
  int64_t whole = static_cast<int64_t>(milli / 1000);
  int frac = static_cast<int>(milli % 1000);
  char buf[64];
  if (frac == 0) {
    std::snprintf(buf, sizeof buf, "%s%lld", neg ? "-" : "", static_cast<long long>(whole));
  } else {
    std::snprintf(buf, sizeof buf, "%s%lld.%03d", neg ? "-" : "", static_cast<long long>(whole), frac);
    std::string s(buf);
    while (s.back() == '0') s.pop_back();
    return s + std::string(unit);
  }
  return std::string(buf) + std::string(unit);
}

// Picks the largest unit <= |value| from `units` (ascending factors) and formats with it.
std::string FormatAuto(i128 value, const Unit* units, size_t n) {
  i128 mag = value < 0 ? -value : value;
  size_t pick = 0;
  for (size_t u = 0; u < n; ++u) {
    if (mag >= units[u].factor) pick = u;
  }
  return FormatScaled(value, units[pick].factor, units[pick].name);
}

}  // namespace

Duration DataRate::TransmitTime(Bytes bytes) const {
  S3_CHECK_MSG(bps_ > 0, "TransmitTime at a zero rate");
  i128 num = static_cast<i128>(bytes.count()) * 8 * k1e12;
  i128 ps = (num + bps_ - 1) / bps_;
  S3_CHECK(ps <= kMaxValue);
  return Duration::Picoseconds(static_cast<int64_t>(ps));
}

Bytes DataRate::BytesIn(Duration d) const {
  i128 bits = static_cast<i128>(bps_) * d.ps() / k1e12;
  return Bytes(static_cast<int64_t>(bits / 8));
}

Result<Duration> ParseDuration(std::string_view text) {
  auto v = ParseWithUnits(text, "duration", kDurationUnits, std::size(kDurationUnits),
                          "ps, ns, us, ms, s, min, h");
  if (!v.ok()) return v.status();
  return Duration::Picoseconds(*v);
}

Result<Bytes> ParseBytes(std::string_view text) {
  auto v = ParseWithUnits(text, "size", kByteUnits, std::size(kByteUnits),
                          "B, KB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB");
  if (!v.ok()) return v.status();
  return Bytes(*v);
}

Result<DataRate> ParseDataRate(std::string_view text) {
  auto v = ParseWithUnits(text, "rate", kRateUnits, std::size(kRateUnits),
                          "bps, Kbps, Mbps, Gbps, Tbps, B/s, KB/s, MB/s, GB/s, TB/s, MiB/s, GiB/s");
  if (!v.ok()) return v.status();
  return DataRate::BitsPerSecond(*v);
}

Result<int64_t> ParseCount(std::string_view text) {
  return ParseWithUnits(text, "count", kCountUnits, std::size(kCountUnits), "K, M, G, T or none");
}

std::string ToString(Duration d) {
  static const Unit units[] = {{"ps", 1}, {"ns", k1e3}, {"us", k1e6}, {"ms", k1e9}, {"s", k1e12}};
  if (d.ps() == 0) return "0s";
  return FormatAuto(d.ps(), units, std::size(units));
}

std::string ToString(Time t) { return ToString(t.SinceEpoch()); }

std::string ToString(Bytes b) {
  static const Unit binary[] = {{"KiB", i128{1} << 10}, {"MiB", i128{1} << 20},
                                {"GiB", i128{1} << 30}, {"TiB", i128{1} << 40},
                                {"PiB", i128{1} << 50}};
  static const Unit decimal[] = {{"B", 1},     {"KB", k1e3},   {"MB", k1e6},
                                 {"GB", k1e9}, {"TB", k1e12},  {"PB", k1e15}};
  i128 v = b.count();
  i128 mag = v < 0 ? -v : v;
  if (mag < 1024) return FormatScaled(v, 1, "B");
  // Exact binary multiple (64MiB) wins, then exact decimal (35GB), else decimal rounded.
  for (int u = static_cast<int>(std::size(binary)) - 1; u >= 0; --u) {
    if (mag >= binary[u].factor && mag % binary[u].factor == 0) {
      return FormatScaled(v, binary[u].factor, binary[u].name);
    }
  }
  return FormatAuto(v, decimal, std::size(decimal));
}

std::string ToString(DataRate r) {
  static const Unit units[] = {{"bps", 1},     {"Kbps", k1e3}, {"Mbps", k1e6},
                               {"Gbps", k1e9}, {"Tbps", k1e12}};
  return FormatAuto(r.bps(), units, std::size(units));
}

std::string ToBytesPerSecondString(DataRate r) {
  static const Unit units[] = {{"B/s", 1},     {"KB/s", k1e3}, {"MB/s", k1e6},
                               {"GB/s", k1e9}, {"TB/s", k1e12}};
  // bps/8 may be fractional: format bits with factor*8.
  i128 v = r.bps();
  i128 bytes = v / 8;
  size_t pick = 0;
  for (size_t u = 0; u < std::size(units); ++u) {
    if (bytes >= units[u].factor) pick = u;
  }
  return FormatScaled(v, units[pick].factor * 8, units[pick].name);
}

}  // namespace s3rdma::core
