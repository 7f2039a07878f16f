// UdpFabric: real RoCEv2 datagrams between two sockets on loopback.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "core/real_runtime.h"
#include "core/rng.h"
#include "emu/udp_fabric.h"

namespace s3rdma::emu {
namespace {

using core::Duration;

const NodeAddress kLoopbackAnyPort{Ipv4(127, 0, 0, 1), 0};

RocePacket Packet(uint8_t opcode, uint32_t psn, size_t payload_bytes, uint64_t salt = 0) {
  RocePacket p;
  p.address.src_port = RoceSourcePort(5);
  p.bth.opcode = opcode;
  p.bth.dest_qp = 0x77;
  p.bth.psn = psn;
  p.bth.ack_request = psn % 2 == 0;
  p.reth = {0x1000 + psn, 0xABC, uint32_t(payload_bytes)};
  p.aeth = Aeth::Ack(psn);
  p.atomic_eth = {0x2000, 0xDEF, 5, 6};
  p.atomic_ack = {0x1234};
  p.immediate = 0xFEEDF00D;
  if (GetOpcodeInfo(opcode).has_payload) {
    std::vector<uint8_t> bytes(payload_bytes);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = uint8_t(i * 7 + psn + salt);
    p.payload = Payload::CopyOf(bytes);
  }
  return p;
}

// Sends raw bytes to `to` from a plain UDP socket.
void SendRaw(const NodeAddress& to, const std::vector<uint8_t>& bytes) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(to.ipv4);
  sa.sin_port = htons(to.udp_port);
  ASSERT_EQ(sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa),
            ssize_t(bytes.size()));
  close(fd);
}

TEST(UdpFabric, EveryOpcodeCrossesLoopbackIntact) {
  core::RealRuntime rt;
  UdpFabric fabric(rt);
  std::vector<RocePacket> got;
  auto a = std::move(fabric.Attach(kLoopbackAnyPort, [](RocePacket) {}).value());
  auto b = std::move(fabric.Attach(kLoopbackAnyPort, [&](RocePacket p) { got.push_back(std::move(p)); }).value());
  ASSERT_NE(a->address().udp_port, 0);
  ASSERT_NE(a->address().udp_port, b->address().udp_port);
  const std::vector<uint8_t> ops = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B,
                                    0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x14, 0x16, 0x17};
  std::vector<RocePacket> sent;
  for (size_t i = 0; i < ops.size(); ++i) {
    const bool full = GetOpcodeInfo(ops[i]).is_first || GetOpcodeInfo(ops[i]).is_middle;
    RocePacket p = Packet(ops[i], uint32_t(i), full ? 4096 : 1 + i * 13);
    sent.push_back(p);
    ASSERT_TRUE(a->Send(b->address(), p).ok());
  }
  for (int i = 0; i < 200 && got.size() < sent.size(); ++i) rt.RunFor(Duration::Milliseconds(10));
  ASSERT_EQ(got.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    RocePacket want = sent[i];
    want.address = {a->address().ipv4, b->address().ipv4, a->address().udp_port, b->address().udp_port};
    EXPECT_TRUE(SamePacket(want, got[i])) << "want " << want.ToString() << "\n got " << got[i].ToString();
  }
  EXPECT_EQ(b->stats().rx_packets, sent.size());
  EXPECT_EQ(a->stats().tx_packets, sent.size());
  EXPECT_EQ(b->stats().rx_dropped_icrc, 0u);
}

TEST(UdpFabric, WindowedStreamArrivesInOrder) {
  // 4000 MTU-sized packets, at most 128 outstanding (like an RC window): all arrive, in order.
  core::RealRuntime rt;
  UdpFabric fabric(rt);
  constexpr uint32_t kTotal = 4000;
  uint32_t next_expected = 0;
  bool in_order = true;
  std::unique_ptr<FabricPort> a, b;
  uint32_t sent = 0;
  auto pump = [&] {
    while (sent < kTotal && sent - next_expected < 128) {
      ASSERT_TRUE(a->Send(b->address(), Packet(0x07, sent, 4096, 1)).ok());
      ++sent;
    }
  };
  a = std::move(fabric.Attach(kLoopbackAnyPort, [](RocePacket) {}).value());
  b = std::move(fabric.Attach(kLoopbackAnyPort, [&](RocePacket p) {
                  if (p.bth.psn != next_expected) in_order = false;
                  const RocePacket want = Packet(0x07, p.bth.psn, 4096, 1);
                  if (!SamePacket([&] { RocePacket w = want; w.address = p.address; return w; }(), p)) in_order = false;
                  next_expected = p.bth.psn + 1;
                  pump();
                  if (next_expected == kTotal) rt.Stop();
                }).value());
  pump();
  rt.RunFor(Duration::Seconds(20));
  EXPECT_EQ(next_expected, kTotal) << "sent " << sent << " dropped tx " << a->stats().tx_dropped;
  EXPECT_TRUE(in_order);
  EXPECT_GT(fabric.stats().send_syscalls, 0u);
  EXPECT_LT(fabric.stats().send_syscalls, uint64_t(kTotal)) << "sendmmsg should batch";
  std::printf("send syscalls %llu, GSO sends %llu, GRO receives %llu\n",
              (unsigned long long)fabric.stats().send_syscalls, (unsigned long long)fabric.stats().gso_sends,
              (unsigned long long)fabric.stats().gro_receives);
}

TEST(UdpFabric, WorksWithoutSegmentationOffload) {
  core::RealRuntime rt;
  UdpFabricConfig config;
  config.gso = false;
  config.batch = 1;
  UdpFabric fabric(rt, config);
  std::vector<RocePacket> got;
  auto a = std::move(fabric.Attach(kLoopbackAnyPort, [](RocePacket) {}).value());
  auto b = std::move(fabric.Attach(kLoopbackAnyPort, [&](RocePacket p) { got.push_back(std::move(p)); }).value());
  for (uint32_t i = 0; i < 100; ++i) ASSERT_TRUE(a->Send(b->address(), Packet(0x07, i, 1024, 3)).ok());
  for (int i = 0; i < 100 && got.size() < 100; ++i) rt.RunFor(Duration::Milliseconds(10));
  ASSERT_EQ(got.size(), 100u);
  for (uint32_t i = 0; i < 100; ++i) EXPECT_EQ(got[i].bth.psn, i);
  EXPECT_EQ(fabric.stats().gso_sends, 0u);
  EXPECT_EQ(fabric.stats().gro_receives, 0u);
}

TEST(UdpFabric, BadDatagramsAreCountedAndDropped) {
  core::RealRuntime rt;
  UdpFabric fabric(rt);
  int delivered = 0;
  auto b = std::move(fabric.Attach(kLoopbackAnyPort, [&](RocePacket) { ++delivered; }).value());
  const NodeAddress to = b->address();

  SendRaw(to, {1, 2, 3});                      // truncated
  SendRaw(to, std::vector<uint8_t>(40, 0x64));  // UD opcode
  // A valid packet, but its ICRC was computed for another source port: fails the check.
  RocePacket p = Packet(0x04, 1, 33);
  p.address = {Ipv4(127, 0, 0, 1), to.ipv4, 1, to.udp_port};
  SendRaw(to, *EncodeUdpPayload(p));
  core::Rng rng(7);
  for (int i = 0; i < 200; ++i) {  // random garbage of random sizes
    std::vector<uint8_t> junk(rng.Below(200));
    for (auto& x : junk) x = uint8_t(rng.NextU64());
    SendRaw(to, junk);
  }
  for (int i = 0; i < 50 && b->stats().rx_dropped_icrc + b->stats().rx_dropped_malformed < 203; ++i) {
    rt.RunFor(Duration::Milliseconds(10));
  }
  EXPECT_EQ(delivered, 0);
  EXPECT_EQ(b->stats().rx_dropped_icrc + b->stats().rx_dropped_malformed, 203u);
  EXPECT_GE(b->stats().rx_dropped_icrc, 1u);
}

TEST(UdpFabric, AttachErrors) {
  core::RealRuntime rt;
  UdpFabric fabric(rt);
  auto a = std::move(fabric.Attach(kLoopbackAnyPort, [](RocePacket) {}).value());
  auto again = fabric.Attach(a->address(), [](RocePacket) {});
  EXPECT_EQ(again.status().code(), core::StatusCode::kIOError) << again.status().ToString();
  EXPECT_EQ(fabric.Attach(NodeAddress{0, 0}, [](RocePacket) {}).status().code(), core::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fabric.Attach(NodeAddress{Ipv4(192, 0, 2, 1), 0}, [](RocePacket) {}).ok())
      << "an address this host does not have cannot be bound";
  UdpFabricConfig bad;
  bad.batch = 0;
  EXPECT_FALSE(bad.Validate().ok());
}

TEST(UdpFabric, UnroutableDestinationIsALossNotAnError) {
  core::RealRuntime rt;
  UdpFabric fabric(rt);
  auto a = std::move(fabric.Attach(kLoopbackAnyPort, [](RocePacket) {}).value());
  int got = 0;
  auto b = std::move(fabric.Attach(kLoopbackAnyPort, [&](RocePacket) { ++got; }).value());
  // From a loopback-bound socket, a TEST-NET-1 address cannot be reached.
  for (uint32_t i = 0; i < 5; ++i) ASSERT_TRUE(a->Send({Ipv4(192, 0, 2, 1), kRoceUdpPort}, Packet(0x07, i, 4096)).ok());
  rt.RunFor(Duration::Milliseconds(50));
  EXPECT_EQ(a->stats().tx_dropped, 5u);
  // The port still works afterwards, and an unreachable peer did not turn GSO off.
  const uint64_t gso_before = fabric.stats().gso_sends;
  for (uint32_t i = 0; i < 5; ++i) ASSERT_TRUE(a->Send(b->address(), Packet(0x07, i, 4096)).ok());
  for (int i = 0; i < 50 && got < 5; ++i) rt.RunFor(Duration::Milliseconds(10));
  EXPECT_EQ(got, 5);
  EXPECT_GT(fabric.stats().gso_sends, gso_before);
}

TEST(UdpFabric, PortMayBeDestroyedInsideItsCallback) {
  core::RealRuntime rt;
  UdpFabric fabric(rt);
  int got = 0;
  std::unique_ptr<FabricPort> b;
  auto a = std::move(fabric.Attach(kLoopbackAnyPort, [](RocePacket) {}).value());
  b = std::move(fabric.Attach(kLoopbackAnyPort, [&](RocePacket) {
                  ++got;
                  b.reset();
                }).value());
  const NodeAddress to = b->address();
  for (uint32_t i = 0; i < 20; ++i) ASSERT_TRUE(a->Send(to, Packet(0x04, i, 100)).ok());
  rt.RunFor(Duration::Milliseconds(200));
  EXPECT_EQ(got, 1);
}

}  // namespace
}  // namespace s3rdma::emu
