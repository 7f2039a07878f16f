#include "core/units.h"

#include <gtest/gtest.h>

namespace s3rdma::core {
namespace {

TEST(UnitsTest, ParsesDurations) {
  EXPECT_EQ(ParseDuration("2us")->ps(), 2'000'000);
  EXPECT_EQ(ParseDuration("4.096us")->ps(), 4'096'000);
  EXPECT_EQ(ParseDuration("0.5ns")->ps(), 500);
  EXPECT_EQ(ParseDuration(" 1.5 ms ")->ps(), 1'500'000'000);
  EXPECT_EQ(ParseDuration("3s")->ps(), Duration::Seconds(3).ps());
  EXPECT_EQ(ParseDuration("2min")->ps(), Duration::Seconds(120).ps());
  EXPECT_EQ(ParseDuration("7ps")->ps(), 7);
}

TEST(UnitsTest, ParsesSizes) {
  EXPECT_EQ(ParseBytes("64MiB")->count(), 64LL << 20);
  EXPECT_EQ(ParseBytes("64MB")->count(), 64'000'000);
  EXPECT_EQ(ParseBytes("4096")->count(), 4096);
  EXPECT_EQ(ParseBytes("1.5KiB")->count(), 1536);
  EXPECT_EQ(ParseBytes("1GiB")->count(), 1LL << 30);
}

TEST(UnitsTest, ParsesRates) {
  EXPECT_EQ(ParseDataRate("400Gbps")->bps(), 400'000'000'000);
  EXPECT_EQ(ParseDataRate("400Gb/s")->bps(), 400'000'000'000);
  EXPECT_EQ(ParseDataRate("35GB/s")->bps(), 280'000'000'000);
  EXPECT_EQ(ParseDataRate("1.5Gbps")->bps(), 1'500'000'000);
  EXPECT_EQ(ParseDataRate("1MiB/s")->bps(), 8LL << 20);
}

TEST(UnitsTest, ParsesCounts) {
  EXPECT_EQ(*ParseCount("100M"), 100'000'000);
  EXPECT_EQ(*ParseCount("42"), 42);
  EXPECT_EQ(*ParseCount("1.5K"), 1500);
  EXPECT_EQ(*ParseCount("100_000"), 100000);
}

TEST(UnitsTest, RejectsBadInputWithClearErrors) {
  auto r = ParseDuration("2");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("needs a unit"), std::string::npos) << r.status().message();

  r = ParseDuration("2 parsecs");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unknown unit 'parsecs'"), std::string::npos);
  EXPECT_NE(r.status().message().find("ns, us"), std::string::npos);

  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("us").ok());
  EXPECT_FALSE(ParseDuration("-2us").ok());
  EXPECT_NE(ParseDuration("-2us").status().message().find("negative"), std::string::npos);
  EXPECT_FALSE(ParseDuration("1.us").ok());
  EXPECT_FALSE(ParseDuration("0.1ps").ok());       // below the resolution: not rounded
  EXPECT_FALSE(ParseBytes("1.5B").ok());           // not a whole byte
  EXPECT_FALSE(ParseBytes("64mib").ok());          // units are case-sensitive
  EXPECT_FALSE(ParseBytes("99999999999PiB").ok()); // overflow
  EXPECT_NE(ParseBytes("99999999999PiB").status().message().find("too large"), std::string::npos);
  EXPECT_FALSE(ParseBytes("1234567890123456789012345678901").ok());  // too many digits
  EXPECT_FALSE(ParseDataRate("400").ok());          // a bare rate is ambiguous
  EXPECT_FALSE(ParseDataRate("400Gbps/s").ok());
  EXPECT_FALSE(ParseCount("1.5").ok());
  EXPECT_FALSE(ParseCount("10X").ok());
  EXPECT_FALSE(ParseBytes("1..5KB").ok());
  EXPECT_FALSE(ParseBytes("0x10").ok());
}

TEST(UnitsTest, PrintsShortestExactForm) {
  EXPECT_EQ(ToString(Duration::Microseconds(2)), "2us");
  EXPECT_EQ(ToString(Duration::Nanoseconds(4096)), "4.096us");
  EXPECT_EQ(ToString(Duration::Zero()), "0s");
  EXPECT_EQ(ToString(Duration::Picoseconds(20)), "20ps");
  EXPECT_EQ(ToString(Bytes::MiB(64)), "64MiB");
  EXPECT_EQ(ToString(Bytes(35'000'000'000)), "35GB");
  EXPECT_EQ(ToString(Bytes(100)), "100B");
  EXPECT_EQ(ToString(DataRate::Gbps(400)), "400Gbps");
  EXPECT_EQ(ToString(DataRate::BitsPerSecond(1'500'000'000)), "1.5Gbps");
  EXPECT_EQ(ToBytesPerSecondString(DataRate::BytesPerSecond(35'000'000'000)), "35GB/s");
}

TEST(UnitsTest, PrintThenParseRoundTrips) {
  for (const char* s : {"2us", "4.096us", "64MiB", "400Gbps", "35GB", "1.5Gbps"}) {
    std::string text = s;
    if (text.ends_with("bps")) {
      EXPECT_EQ(ToString(*ParseDataRate(text)), text);
    } else if (text.ends_with("s")) {
      EXPECT_EQ(ToString(*ParseDuration(text)), text);
    } else {
      EXPECT_EQ(ToString(*ParseBytes(text)), text);
    }
  }
}

TEST(UnitsTest, TransmitTimeIsExactAndRoundsUp) {
  const DataRate r400 = DataRate::Gbps(400);
  EXPECT_EQ(r400.TransmitTime(Bytes(1)).ps(), 20);
  EXPECT_EQ(r400.TransmitTime(Bytes::MiB(64)).ps(), (64LL << 20) * 20);
  // 1 byte at 3 bps = 2.666... s: rounds up to the next picosecond.
  EXPECT_EQ(DataRate::BitsPerSecond(3).TransmitTime(Bytes(1)).ps(), 2'666'666'666'667);
  EXPECT_EQ(r400.BytesIn(Duration::Microseconds(1)).count(), 50'000);
  // Large transfers do not overflow: 1 TiB at 1 Gbps.
  EXPECT_EQ(DataRate::Gbps(1).TransmitTime(Bytes(1LL << 40)).ps(), (1LL << 40) * 8 * 1000);
}

}  // namespace
}  // namespace s3rdma::core
