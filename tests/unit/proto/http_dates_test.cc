// The date formatters against the printf formats they replaced, over random instants from
// 1970 to beyond 9999 and before 0 (where the fixed-width path hands over to snprintf).
#include <cstdio>
#include <ctime>
#include <string>

#include <gtest/gtest.h>

#include "core/rng.h"
#include "proto/http_util.h"

namespace s3rdma::proto {
namespace {

std::string PrintfHttp(int64_t t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  const time_t tt = static_cast<time_t>(t);
  gmtime_r(&tt, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string PrintfAmz(int64_t t) {
  std::tm tm{};
  const time_t tt = static_cast<time_t>(t);
  gmtime_r(&tt, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

TEST(HttpDatesTest, KnownInstants) {
  EXPECT_EQ(FormatAmzDate(1369353600), "20130524T000000Z");
  EXPECT_EQ(FormatHttpDate(1445412480), "Wed, 21 Oct 2015 07:28:00 GMT");
  EXPECT_EQ(FormatAmzDate(0), "19700101T000000Z");
  EXPECT_EQ(ParseAmzDate(FormatAmzDate(1700000000)), 1700000000);
  EXPECT_EQ(ParseHttpDate(FormatHttpDate(1700000000)), 1700000000);
}

TEST(HttpDatesTest, MatchPrintfEverywhere) {
  const uint64_t seed = 20261127;
  core::Rng rng(seed);
  const int64_t year_10000 = 253402300800;  // 10000-01-01T00:00:00Z
  const int64_t edges[] = {0,          1,           59,          86399,
                           951782400,  4107542399,  year_10000 - 1, year_10000,
                           -62167219200 /* year 0 */, -62167219201, -1};
  for (int64_t t : edges) {
    EXPECT_EQ(FormatAmzDate(t), PrintfAmz(t)) << "t=" << t;
    EXPECT_EQ(FormatHttpDate(t), PrintfHttp(t)) << "t=" << t;
  }
  for (int i = 0; i < 20000; ++i) {
    const int64_t t = rng.Uniform(-year_10000 / 8, 2 * year_10000);
    ASSERT_EQ(FormatAmzDate(t), PrintfAmz(t)) << "t=" << t << " seed " << seed;
    ASSERT_EQ(FormatHttpDate(t), PrintfHttp(t)) << "t=" << t << " seed " << seed;
  }
}

}  // namespace
}  // namespace s3rdma::proto
