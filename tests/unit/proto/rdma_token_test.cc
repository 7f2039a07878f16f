// The x-amz-rdma-token and x-s3rdma-rc formats of docs/protocol.md: the worked example of
// the document, round trips, and every malformed form the server must refuse.
#include "proto/rdma_token.h"

#include <string>

#include <gtest/gtest.h>

namespace s3rdma::proto {
namespace {

// The worked example of docs/protocol.md: client QPN 0x11 on ::ffff:127.0.0.1, rkey 0x15a,
// a 1 MiB buffer at 0x7f3a5c000000.
constexpr std::string_view kExampleDescriptor =
    "011100000000000000000000000000ffff7f0000015a0100000000005c3a7f00000000100000000000010000";

RcDescriptor ExampleDescriptor() {
  RcDescriptor d;
  d.qpn = 0x11;
  d.gid = emu::GidFromIpv4(emu::Ipv4(127, 0, 0, 1));
  d.rkey = 0x15a;
  d.addr = 0x7f3a5c000000;
  d.length = 0x100000;
  return d;
}

TEST(RdmaTokenTest, DescriptorMatchesTheDocumentedBytes) {
  EXPECT_EQ(FormatRcDescriptor(ExampleDescriptor()), kExampleDescriptor);
  auto t = ParseRdmaToken(kExampleDescriptor);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->desc, ExampleDescriptor());
  EXPECT_FALSE(t->has_suffix);
  EXPECT_EQ(t->addr, 0x7f3a5c000000u);
  EXPECT_EQ(t->size, 0x100000u);
}

TEST(RdmaTokenTest, SuffixSelectsASubBufferAndTrailingSemicolonIsTolerated) {
  const std::string token = FormatRdmaToken(ExampleDescriptor(), true, 0x7f3a5c001000, 0x2000);
  EXPECT_EQ(token, std::string(kExampleDescriptor) + ":00007f3a5c001000:0000000000002000");
  for (const std::string& text : {token, token + ";"}) {
    auto t = ParseRdmaToken(text);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_TRUE(t->has_suffix);
    EXPECT_EQ(t->addr, 0x7f3a5c001000u);
    EXPECT_EQ(t->size, 0x2000u);
    EXPECT_EQ(t->desc, ExampleDescriptor());
  }
  // The whole region, exactly, is inside.
  EXPECT_TRUE(ParseRdmaToken(FormatRdmaToken(ExampleDescriptor(), true, 0x7f3a5c000000, 0x100000)).ok());
  EXPECT_TRUE(ParseRdmaToken(std::string(kExampleDescriptor) + ";").ok());
}

TEST(RdmaTokenTest, MalformedTokensAreInvalidArgument) {
  const std::string desc(kExampleDescriptor);
  std::string upper = desc;
  upper[34] = 'F';  // "ffff" of the GID in upper case
  std::string non_hex = desc;
  non_hex[3] = 'g';
  const std::vector<std::string> bad = {
      "",
      ";",
      desc.substr(0, 87),
      desc + "0",
      desc + "00",
      upper,
      non_hex,
      desc + ";;",
      desc + ":00007f3a5c001000:000000000000200",    // short size
      desc + ":00007f3a5c001000-0000000000002000",   // wrong separator
      desc + ":00007F3A5C001000:0000000000002000",   // upper-case suffix
      desc + ":00007f3a5c001000:0000000000002000:",  // extra separator
      // Suffix outside the descriptor: below, above, size too large, straddling the end.
      FormatRdmaToken(ExampleDescriptor(), true, 0x7f3a5bfff000, 0x1000),
      FormatRdmaToken(ExampleDescriptor(), true, 0x7f3a5c100000, 1),
      FormatRdmaToken(ExampleDescriptor(), true, 0x7f3a5c000000, 0x100001),
      FormatRdmaToken(ExampleDescriptor(), true, 0x7f3a5c0ff000, 0x2000),
      FormatRdmaToken(ExampleDescriptor(), true, UINT64_MAX, UINT64_MAX),
  };
  for (const std::string& text : bad) {
    auto t = ParseRdmaToken(text);
    EXPECT_FALSE(t.ok()) << text;
    if (!t.ok()) {
      EXPECT_EQ(t.status().code(), core::StatusCode::kInvalidArgument) << text;
    }
  }
}

TEST(RdmaTokenTest, DescriptorFieldsAreRangeChecked) {
  RcDescriptor d = ExampleDescriptor();
  d.transport = 2;
  EXPECT_EQ(ParseRdmaToken(FormatRcDescriptor(d)).status().code(), core::StatusCode::kInvalidArgument);
  d = ExampleDescriptor();
  d.qpn = 0;
  EXPECT_FALSE(ParseRdmaToken(FormatRcDescriptor(d)).ok());
  d.qpn = 0x1000000;
  EXPECT_FALSE(ParseRdmaToken(FormatRcDescriptor(d)).ok());
  d = ExampleDescriptor();
  d.addr = UINT64_MAX - 10;
  d.length = 11;  // addr + length = 2^64: overflows
  EXPECT_FALSE(ParseRdmaToken(FormatRcDescriptor(d)).ok());
  d.length = 10;
  EXPECT_TRUE(ParseRdmaToken(FormatRcDescriptor(d)).ok());
}

TEST(RdmaTokenTest, CuObjectDcTokenIsRecognisedAndDeclined) {
  // raddr(16) rsize(8) rkey(8) lid(4) dctn(6) has_gid(1) gid(32), ':'-separated: 81 characters.
  const std::string dc =
      "00007f3a5c000000:00100000:0000015a:0000:000123:1:00000000000000000000ffff7f000001";
  ASSERT_EQ(dc.size(), 81u);
  for (const std::string& text : {dc, dc + ";"}) {
    auto t = ParseRdmaToken(text);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), core::StatusCode::kUnimplemented);
    EXPECT_NE(t.status().message().find("DC transport"), std::string::npos);
  }
  std::string upper = dc;
  upper[0] = 'A';
  EXPECT_EQ(ParseRdmaToken(upper).status().code(), core::StatusCode::kInvalidArgument);
  std::string moved_colon = dc;
  std::swap(moved_colon[16], moved_colon[17]);
  EXPECT_EQ(ParseRdmaToken(moved_colon).status().code(), core::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseRdmaToken(std::string(81, 'a')).status().code(),
            core::StatusCode::kInvalidArgument);
}

RcConnectParams ExampleParams() {
  RcConnectParams p;
  p.qpn = 0x11;
  p.psn = 0xabcdef;
  p.gid = emu::GidFromIpv4(emu::Ipv4(127, 0, 0, 1));
  p.udp_port = 4791;
  p.mtu = emu::Mtu::k1024;
  return p;
}

TEST(RcConnectHeaderTest, FormatsAndParsesTheDocumentedForm) {
  const std::string text = FormatRcConnectHeader(ExampleParams());
  EXPECT_EQ(text, "v=1;qpn=11;psn=abcdef;gid=00000000000000000000ffff7f000001;udp=4791;mtu=1024");
  auto p = ParseRcConnectHeader(text);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, ExampleParams());
  // Any key order; psn 0 is fine; leading zeros in hex are fine.
  auto q = ParseRcConnectHeader(
      "mtu=4096;udp=1;gid=00000000000000000000ffff0a000001;psn=0;qpn=000001;v=1");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->qpn, 1u);
  EXPECT_EQ(q->psn, 0u);
  EXPECT_EQ(q->udp_port, 1);
  EXPECT_EQ(q->mtu, emu::Mtu::k4096);
}

TEST(RcConnectHeaderTest, StrictAboutEveryField) {
  const std::string gid = "gid=00000000000000000000ffff7f000001";
  const std::string rest = ";udp=4791;mtu=1024";
  const std::vector<std::string> bad = {
      "",
      "v=1",
      "v=2;qpn=11;psn=0;" + gid + rest,
      "v=1;qpn=0;psn=0;" + gid + rest,
      "v=1;qpn=1000000;psn=0;" + gid + rest,
      "v=1;qpn=AB;psn=0;" + gid + rest,
      "v=1;qpn=0x11;psn=0;" + gid + rest,
      "v=1;qpn=11;psn=;" + gid + rest,
      "v=1;qpn=11;psn=1000000;" + gid + rest,
      "v=1;qpn=11;psn=0;gid=ffff7f000001" + rest,
      "v=1;qpn=11;psn=0;gid=00000000000000000000FFFF7F000001" + rest,
      "v=1;qpn=11;psn=0;" + gid + ";udp=0;mtu=1024",
      "v=1;qpn=11;psn=0;" + gid + ";udp=65536;mtu=1024",
      "v=1;qpn=11;psn=0;" + gid + ";udp=04791;mtu=1024",
      "v=1;qpn=11;psn=0;" + gid + ";udp=-1;mtu=1024",
      "v=1;qpn=11;psn=0;" + gid + ";udp=4791;mtu=1500",
      "v=1;qpn=11;psn=0;" + gid + rest + ";",
      "v=1;qpn=11;psn=0;" + gid + rest + ";x=1",
      "v=1;qpn=11;qpn=12;psn=0;" + gid + rest,
      "v=1;qpn=11;psn=0; " + gid + rest,
      "v=1;qpn=11;psn=0;" + gid + ";udp=4791",
  };
  for (const std::string& text : bad) {
    auto p = ParseRcConnectHeader(text);
    EXPECT_FALSE(p.ok()) << text;
    if (!p.ok()) {
      EXPECT_EQ(p.status().code(), core::StatusCode::kInvalidArgument) << text;
    }
  }
}

}  // namespace
}  // namespace s3rdma::proto
