// RoCEv2 codec: header layouts, golden bytes, round trips of every opcode, malformed input.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/rng.h"
#include "emu/payload.h"
#include "emu/roce_wire.h"

namespace s3rdma::emu {
namespace {

std::vector<uint8_t> Bytes(std::initializer_list<int> v) {
  std::vector<uint8_t> out;
  for (int b : v) out.push_back(static_cast<uint8_t>(b));
  return out;
}

std::vector<uint8_t> Concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<uint8_t> Str(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

const std::vector<uint8_t> kAllOpcodes = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B,
                                          0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x14, 0x16, 0x17};

// A packet of `opcode` with every field random and a valid payload size.
RocePacket RandomPacket(core::Rng& rng, uint8_t opcode) {
  RocePacket p;
  p.address = {uint32_t(rng.NextU64()), uint32_t(rng.NextU64()), uint16_t(rng.NextU64()), kRoceUdpPort};
  p.bth.opcode = opcode;
  p.bth.solicited_event = rng.Bernoulli(0.5);
  p.bth.migration = rng.Bernoulli(0.5);
  p.bth.pkey = uint16_t(rng.NextU64());
  p.bth.fecn = rng.Bernoulli(0.5);
  p.bth.becn = rng.Bernoulli(0.5);
  p.bth.dest_qp = uint32_t(rng.NextU64()) & kQpnMask;
  p.bth.ack_request = rng.Bernoulli(0.5);
  p.bth.psn = uint32_t(rng.NextU64()) & kPsnMask;
  p.reth = {rng.NextU64(), uint32_t(rng.NextU64()), uint32_t(rng.NextU64())};
  p.atomic_eth = {rng.NextU64(), uint32_t(rng.NextU64()), rng.NextU64(), rng.NextU64()};
  p.aeth = {uint8_t(rng.NextU64() & 0x7F), uint32_t(rng.NextU64()) & 0xFFFFFF};
  p.atomic_ack = {rng.NextU64()};
  p.immediate = uint32_t(rng.NextU64());
  p.invalidate_rkey = uint32_t(rng.NextU64());
  const OpcodeInfo& info = GetOpcodeInfo(opcode);
  if (info.has_payload) {
    size_t n = rng.Below(300);
    if (info.is_first || info.is_middle) n = (n / 4 + 1) * 4;
    std::vector<uint8_t> bytes(n);
    for (auto& b : bytes) b = uint8_t(rng.NextU64());
    p.payload = Payload::CopyOf(bytes);
  }
  return p;
}

TEST(OpcodeTable, HeaderSizesFollowIbta) {
  struct Want { uint8_t op; size_t bytes; const char* name; };
  const Want wants[] = {
      {0x00, 12, "SEND_FIRST"}, {0x03, 16, "SEND_LAST_WITH_IMMEDIATE"}, {0x04, 12, "SEND_ONLY"},
      {0x05, 16, "SEND_ONLY_WITH_IMMEDIATE"}, {0x06, 28, "RDMA_WRITE_FIRST"}, {0x07, 12, "RDMA_WRITE_MIDDLE"},
      {0x09, 16, "RDMA_WRITE_LAST_WITH_IMMEDIATE"}, {0x0A, 28, "RDMA_WRITE_ONLY"},
      {0x0B, 32, "RDMA_WRITE_ONLY_WITH_IMMEDIATE"}, {0x0C, 28, "RDMA_READ_REQUEST"},
      {0x0D, 16, "RDMA_READ_RESPONSE_FIRST"}, {0x0E, 12, "RDMA_READ_RESPONSE_MIDDLE"},
      {0x10, 16, "RDMA_READ_RESPONSE_ONLY"}, {0x11, 16, "ACKNOWLEDGE"}, {0x12, 24, "ATOMIC_ACKNOWLEDGE"},
      {0x13, 40, "COMPARE_SWAP"}, {0x14, 40, "FETCH_ADD"}, {0x17, 16, "SEND_ONLY_WITH_INVALIDATE"}};
  for (const Want& w : wants) {
    const OpcodeInfo& info = GetOpcodeInfo(w.op);
    EXPECT_TRUE(info.valid) << w.name;
    EXPECT_EQ(info.header_bytes, w.bytes) << w.name;
    EXPECT_EQ(info.name, w.name);
  }
  EXPECT_FALSE(GetOpcodeInfo(0x15).valid);  // reserved
  EXPECT_FALSE(GetOpcodeInfo(0x64).valid);  // UD SEND_ONLY
  EXPECT_FALSE(GetOpcodeInfo(0x81).valid);  // CNP
  EXPECT_EQ(OpcodeName(0x64), "UNKNOWN(0x64)");
  EXPECT_FALSE(GetOpcodeInfo(Opcode::kRdmaReadRequest).has_payload);
  EXPECT_TRUE(GetOpcodeInfo(Opcode::kRdmaReadResponseMiddle).has_payload);
  EXPECT_FALSE(GetOpcodeInfo(Opcode::kRdmaReadResponseMiddle).has_aeth);
}

TEST(Wire, GoldenAcknowledge) {
  RocePacket p;
  p.address = {Ipv4(10, 0, 0, 1), Ipv4(10, 0, 0, 2), 0xC000, kRoceUdpPort};
  p.bth.opcode = 0x11;
  p.bth.dest_qp = 0x12;
  p.bth.psn = 5;
  p.aeth = Aeth::Ack(3);
  auto bytes = EncodeUdpPayload(p);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  // ICRC 0x2f3dde0e computed with Python's zlib from the published recipe (independently of
  // this code), stored little-endian.
  EXPECT_EQ(*bytes, Bytes({0x11, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, 0x05,
                           0x1f, 0x00, 0x00, 0x03, 0x0e, 0xde, 0x3d, 0x2f}));
}

TEST(Wire, GoldenSendOnlyWithPad) {
  RocePacket p;
  p.address = {Ipv4(192, 168, 1, 10), Ipv4(192, 168, 1, 20), 0xC123, kRoceUdpPort};
  p.bth.opcode = 0x04;
  p.bth.solicited_event = true;
  p.bth.dest_qp = 0xABCDEF;
  p.bth.ack_request = true;
  p.bth.psn = 0x123456;
  p.payload = Payload::CopyOf(Str("hello"));
  auto bytes = EncodeUdpPayload(p);
  ASSERT_TRUE(bytes.ok());
  const auto want = Concat(Concat(Bytes({0x04, 0xB0, 0xff, 0xff, 0x00, 0xab, 0xcd, 0xef, 0x80, 0x12, 0x34, 0x56}),
                                  Str("hello")),
                           Bytes({0, 0, 0, 0xd3, 0xb9, 0x56, 0x79}));
  EXPECT_EQ(*bytes, want);

  auto frame = EncodeFrame(p);
  ASSERT_TRUE(frame.ok());
  ASSERT_EQ(frame->size(), 14u + 20 + 8 + want.size());
  const auto eth_ip_udp =
      Bytes({0x02, 0x00, 192, 168, 1, 20, 0x02, 0x00, 192, 168, 1, 10, 0x08, 0x00,        // Ethernet
             0x45, 0x00, 0x00, 0x34, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb7, 0x4a,         // IPv4 ...
             192, 168, 1, 10, 192, 168, 1, 20,                                               //
             0xc1, 0x23, 0x12, 0xb7, 0x00, 0x20, 0x00, 0x00});                               // UDP
  EXPECT_EQ(std::vector<uint8_t>(frame->begin(), frame->begin() + 42), eth_ip_udp);
  EXPECT_EQ(std::vector<uint8_t>(frame->begin() + 42, frame->end()), want);
}

TEST(Wire, GoldenRethAndAtomicLayouts) {
  RocePacket w;
  w.bth.opcode = 0x0B;  // RDMA_WRITE_ONLY_WITH_IMMEDIATE: BTH RETH ImmDt payload
  w.bth.dest_qp = 1;
  w.reth = {0x0102030405060708ull, 0x11223344, 4};
  w.immediate = 0xCAFEBABE;
  w.payload = Payload::CopyOf(Str("abcd"));
  auto b = EncodeUdpPayload(w);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(std::vector<uint8_t>(b->begin() + 12, b->begin() + 36),
            Concat(Bytes({1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 4, 0xCA, 0xFE, 0xBA, 0xBE}),
                   Str("abcd")));

  RocePacket a;
  a.bth.opcode = 0x13;  // COMPARE_SWAP: BTH AtomicETH
  a.atomic_eth = {0x1000, 0xAABBCCDD, 0x1111111122222222ull, 0x3333333344444444ull};
  auto c = EncodeUdpPayload(a);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->size(), 12u + 28 + 4);
  EXPECT_EQ(std::vector<uint8_t>(c->begin() + 12, c->begin() + 40),
            Bytes({0, 0, 0, 0, 0, 0, 0x10, 0, 0xAA, 0xBB, 0xCC, 0xDD, 0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22,
                   0x33, 0x33, 0x33, 0x33, 0x44, 0x44, 0x44, 0x44}));

  RocePacket k;
  k.bth.opcode = 0x12;  // ATOMIC_ACKNOWLEDGE: BTH AETH AtomicAckETH
  k.aeth = Aeth::Nak(7, NakCode::kRemoteAccessError);
  k.atomic_ack = {0x0A0B0C0D0E0F1011ull};
  auto d = EncodeUdpPayload(k);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(std::vector<uint8_t>(d->begin() + 12, d->begin() + 24),
            Bytes({0x62, 0, 0, 7, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11}));
}

TEST(Wire, AethSyndromes) {
  EXPECT_EQ(Aeth::Ack(1, 5).kind(), AckKind::kAck);
  EXPECT_EQ(Aeth::Ack(1, 5).value(), 5);
  EXPECT_EQ(Aeth::RnrNak(1, 14).syndrome, 0x2E);
  EXPECT_EQ(Aeth::RnrNak(1, 14).kind(), AckKind::kRnrNak);
  EXPECT_EQ(Aeth::Nak(1, NakCode::kPsnSequenceError).syndrome, 0x60);
  EXPECT_EQ(Aeth::Nak(1, NakCode::kInvalidRequest).syndrome, 0x61);
  EXPECT_EQ(Aeth::Nak(1, NakCode::kRemoteOperationalError).syndrome, 0x63);
  EXPECT_EQ(Aeth::Nak(1, NakCode::kRemoteOperationalError).kind(), AckKind::kNak);
  EXPECT_EQ(Aeth::Ack(0x1234567).msn, 0x234567u);
}

TEST(Wire, RnrTimerTable) {
  EXPECT_EQ(RnrTimerNanoseconds(0), 655'360'000);
  EXPECT_EQ(RnrTimerNanoseconds(1), 10'000);
  EXPECT_EQ(RnrTimerNanoseconds(5), 60'000);
  EXPECT_EQ(RnrTimerNanoseconds(14), 1'280'000);
  EXPECT_EQ(RnrTimerNanoseconds(31), 491'520'000);
}

TEST(Wire, SourcePortLikeRxe) {
  // hash_32(qpn, 14) values computed with Python from the kernel's GOLDEN_RATIO_32.
  EXPECT_EQ(RoceSourcePort(1), 55410);
  EXPECT_EQ(RoceSourcePort(0x11), 57236);
  for (uint32_t q = 0; q < 5000; ++q) {
    EXPECT_GE(RoceSourcePort(q), 0xC000);
  }
}

TEST(Wire, AddressesAndGids) {
  EXPECT_EQ(Ipv4ToString(Ipv4(127, 0, 0, 1)), "127.0.0.1");
  EXPECT_EQ(*ParseIpv4("10.1.2.3"), Ipv4(10, 1, 2, 3));
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "a.b.c.d", "1..2.3", "1.2.3.4 "}) {
    EXPECT_FALSE(ParseIpv4(bad).ok()) << bad;
  }
  const Gid g = GidFromIpv4(Ipv4(10, 0, 0, 7));
  EXPECT_EQ(GidToString(g), "::ffff:10.0.0.7");
  EXPECT_EQ(*Ipv4FromGid(g), Ipv4(10, 0, 0, 7));
  Gid other{};
  other[0] = 0xfe;
  other[1] = 0x80;
  EXPECT_FALSE(Ipv4FromGid(other).ok());
  EXPECT_EQ(GidToString(other), "fe80:0:0:0:0:0:0:0");
}

TEST(Wire, RoundTripEveryOpcode) {
  const uint64_t seed = 20261127;
  core::Rng rng(seed);
  for (int iter = 0; iter < 200; ++iter) {
    for (uint8_t op : kAllOpcodes) {
      RocePacket p = RandomPacket(rng, op);
      SCOPED_TRACE("seed " + std::to_string(seed) + " iter " + std::to_string(iter) + " " + p.ToString());
      auto udp = EncodeUdpPayload(p);
      ASSERT_TRUE(udp.ok()) << udp.status().ToString();
      ASSERT_EQ(udp->size(), p.udp_payload_bytes());
      EXPECT_EQ(udp->size() % 4, 0u);
      auto back = DecodeUdpPayload(std::span<const uint8_t>(*udp), p.address);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      EXPECT_TRUE(SamePacket(p, *back)) << back->ToString();
      EXPECT_EQ(back->bth.pad_count, p.pad_bytes());

      p.address.dst_port = kRoceUdpPort;
      auto frame = EncodeFrame(p);
      ASSERT_TRUE(frame.ok());
      auto back2 = DecodeFrame(*frame);
      ASSERT_TRUE(back2.ok()) << back2.status().ToString();
      EXPECT_TRUE(SamePacket(p, *back2));

      // Zero-copy decode from a pooled datagram shares the block.
      Payload datagram = Payload::CopyOf(*udp);
      auto back3 = DecodeUdpPayload(datagram, p.address);
      ASSERT_TRUE(back3.ok());
      EXPECT_TRUE(SamePacket(p, *back3));
      if (!back3->payload.empty()) {
        EXPECT_EQ(back3->payload.data(), datagram.data() + p.info().header_bytes);
      }
    }
  }
}

TEST(Wire, EncodeRejectsInvalidPackets) {
  RocePacket p;
  p.bth.opcode = 0x15;
  EXPECT_FALSE(EncodeUdpPayload(p).ok());
  p.bth.opcode = 0x11;
  p.payload = Payload::CopyOf(Str("x"));
  EXPECT_FALSE(EncodeUdpPayload(p).ok()) << "ACK with payload";
  p.payload = Payload();
  p.bth.psn = 1u << 24;
  EXPECT_FALSE(EncodeUdpPayload(p).ok());
  p.bth.psn = 0;
  p.bth.dest_qp = 1u << 24;
  EXPECT_FALSE(EncodeUdpPayload(p).ok());
  p.bth.dest_qp = 0;
  p.bth.opcode = 0x06;
  p.payload = Payload::CopyOf(Str("abc"));
  EXPECT_FALSE(EncodeUdpPayload(p).ok()) << "WRITE_FIRST must be a multiple of 4";
  p.bth.opcode = 0x04;
  p.payload = Payload::Allocate(70000);
  EXPECT_FALSE(EncodeUdpPayload(p).ok()) << "does not fit in UDP";
  p.payload = Payload::CopyOf(Str("abc"));
  std::vector<uint8_t> small(10);
  EXPECT_FALSE(EncodeUdpPayload(p, small).ok());
}

RocePacket SampleWrite() {
  RocePacket p;
  p.address = {Ipv4(10, 0, 0, 1), Ipv4(10, 0, 0, 2), RoceSourcePort(7), kRoceUdpPort};
  p.bth.opcode = 0x0A;
  p.bth.dest_qp = 7;
  p.bth.psn = 100;
  p.reth = {0x1000, 0x42, 10};
  p.payload = Payload::CopyOf(Str("0123456789"));
  return p;
}

TEST(WireMalformed, EveryTruncationFails) {
  const RocePacket p = SampleWrite();
  auto bytes = *EncodeUdpPayload(p);
  for (size_t n = 0; n < bytes.size(); ++n) {
    // A fresh buffer of exactly n bytes, so ASan catches any read past the end.
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    auto r = DecodeUdpPayload(std::span<const uint8_t>(cut), p.address);
    EXPECT_FALSE(r.ok()) << "length " << n;
  }
  auto frame = *EncodeFrame(p);
  for (size_t n = 0; n < frame.size(); ++n) {
    std::vector<uint8_t> cut(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(DecodeFrame(cut).ok()) << "frame length " << n;
  }
}

TEST(WireMalformed, ErrorClasses) {
  const RocePacket p = SampleWrite();
  const auto good = *EncodeUdpPayload(p);
  auto decode = [&](std::vector<uint8_t> b, bool icrc = false) {
    DecodeOptions o;
    o.verify_icrc = icrc;
    return DecodeUdpPayload(std::span<const uint8_t>(b), p.address, o);
  };
  ASSERT_TRUE(decode(good, true).ok());

  auto b = good;
  b[0] = 0x64;  // UD SEND_ONLY
  auto r = decode(b);
  EXPECT_EQ(r.status().code(), core::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("unsupported opcode 0x64 (UD"), std::string::npos) << r.status().ToString();

  b = good;
  b[1] |= 0x01;  // TVer 1
  EXPECT_NE(decode(b).status().message().find("transport version"), std::string::npos);

  b = good;
  b[1] = (b[1] & 0xCF) | 0x30;  // pad 3, but the 10-byte payload needs 2
  r = decode(b);
  EXPECT_TRUE(r.ok()) << "pad 3 over 12 bytes is structurally valid; ICRC would catch it";
  EXPECT_FALSE(decode(b, true).ok());

  b = good;
  b.insert(b.end() - 4, 0x00);  // payload+pad no longer a multiple of 4
  EXPECT_NE(decode(b).status().message().find("multiple of 4"), std::string::npos);

  // ACK followed by bytes it cannot carry.
  RocePacket ack;
  ack.bth.opcode = 0x11;
  auto ab = *EncodeUdpPayload(ack);
  ab.insert(ab.end() - 4, {1, 2, 3, 4});
  auto ar = DecodeUdpPayload(std::span<const uint8_t>(ab), ack.address);
  EXPECT_NE(ar.status().message().find("carries no payload"), std::string::npos) << ar.status().ToString();

  // Pad count on a MIDDLE packet.
  RocePacket mid;
  mid.bth.opcode = 0x07;
  mid.payload = Payload::CopyOf(Str("abcdefgh"));
  auto mb = *EncodeUdpPayload(mid);
  mb[1] |= 0x10;
  EXPECT_NE(DecodeUdpPayload(std::span<const uint8_t>(mb), mid.address, {false, true, true})
                .status().message().find("must not be padded"),
            std::string::npos);

  // Pad count larger than the payload.
  RocePacket empty_send;
  empty_send.bth.opcode = 0x04;
  auto eb = *EncodeUdpPayload(empty_send);
  eb[1] |= 0x30;
  EXPECT_NE(DecodeUdpPayload(std::span<const uint8_t>(eb), empty_send.address, {false, true, true})
                .status().message().find("exceeds"),
            std::string::npos);
}

TEST(WireMalformed, EveryBitFlipFailsTheIcrc) {
  const RocePacket p = SampleWrite();
  const auto good = *EncodeUdpPayload(p);
  int icrc_failures = 0;
  for (size_t bit = 0; bit < good.size() * 8; ++bit) {
    auto b = good;
    b[bit / 8] ^= uint8_t(1u << (bit % 8));
    auto r = DecodeUdpPayload(std::span<const uint8_t>(b), p.address);
    // Byte 4 (FECN/BECN/resv6) is masked out of the ICRC: flips there are not detected,
    // exactly as on a real RoCEv2 network where switches may set FECN/BECN.
    if (bit / 8 == 4) {
      EXPECT_TRUE(r.ok()) << "bit " << bit;
      continue;
    }
    EXPECT_FALSE(r.ok()) << "bit " << bit << " flipped and still decoded";
    if (r.status().code() == core::StatusCode::kCorruption) ++icrc_failures;
  }
  EXPECT_GT(icrc_failures, 0);
  // The ICRC also covers the addressing: the same bytes from another source fail.
  PacketAddress other = p.address;
  other.src_ip ^= 1;
  EXPECT_EQ(DecodeUdpPayload(std::span<const uint8_t>(good), other).status().code(),
            core::StatusCode::kCorruption);
}

TEST(WireMalformed, FrameErrors) {
  const RocePacket p = SampleWrite();
  const auto good = *EncodeFrame(p);
  ASSERT_TRUE(DecodeFrame(good).ok());
  auto f = good;
  f[12] = 0x86;  // IPv6 EtherType
  f[13] = 0xDD;
  EXPECT_NE(DecodeFrame(f).status().message().find("not IPv4"), std::string::npos);
  f = good;
  f[14 + 9] = 6;  // TCP
  EXPECT_FALSE(DecodeFrame(f).ok());
  f = good;
  f[14 + 22] = 0x13;  // UDP dst port 4791 (0x12b7) -> 0x13b7
  auto r = DecodeFrame(f);
  EXPECT_NE(r.status().message().find("is not RoCEv2"), std::string::npos) << r.status().ToString();
  DecodeOptions any_port;
  any_port.require_roce_port = false;
  any_port.verify_icrc = false;
  EXPECT_TRUE(DecodeFrame(f, any_port).ok());
  f = good;
  f[14 + 10] ^= 0xFF;  // IPv4 checksum
  EXPECT_EQ(DecodeFrame(f).status().code(), core::StatusCode::kCorruption);
  f = good;
  f[14 + 3] += 4;  // IPv4 total length beyond the frame
  EXPECT_FALSE(DecodeFrame(f, {true, false, true}).ok());
  f = good;
  f.push_back(0);  // Ethernet padding beyond the IPv4 length is ignored
  f.push_back(0);
  EXPECT_TRUE(DecodeFrame(f).ok());
  f = good;
  f[14 + 6] = 0x20;  // more-fragments
  EXPECT_NE(DecodeFrame(f, {true, false, true}).status().message().find("fragmented"), std::string::npos);
}

TEST(Payload, SharingSlicingAndPool) {
  Payload a = Payload::CopyOf(Str("hello world"));
  EXPECT_TRUE(a.unique());
  Payload b = a;
  EXPECT_FALSE(a.unique());
  EXPECT_EQ(a.data(), b.data());
  Payload s = a.Slice(6, 5);
  EXPECT_EQ(std::string(s.data(), s.data() + s.size()), "world");
  EXPECT_TRUE(a.Slice(3, 0).empty());
  b = Payload();
  s = Payload();
  EXPECT_TRUE(a.unique());
  a.mutable_data()[0] = 'H';
  EXPECT_EQ(a.data()[0], 'H');

  const auto before = Payload::ThreadPoolStats();
  for (int i = 0; i < 1000; ++i) {
    Payload p = Payload::Allocate(4096);
    p.mutable_data()[4095] = 1;
  }
  const auto after = Payload::ThreadPoolStats();
  EXPECT_LE(after.allocated_blocks - before.allocated_blocks, 1u) << "steady traffic must reuse pooled blocks";
  EXPECT_GE(after.reused_blocks - before.reused_blocks, 999u);

  Payload big = Payload::Allocate(100000);  // beyond the pooled size: a block of its own
  EXPECT_EQ(big.size(), 100000u);
  big.mutable_data()[99999] = 7;
}

}  // namespace
}  // namespace s3rdma::emu
