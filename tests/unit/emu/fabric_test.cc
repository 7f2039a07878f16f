// InProcFabric: timing, ordering, re-entrancy, lifetime, and seeded fault injection.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/real_runtime.h"
#include "core/virtual_runtime.h"
#include "emu/fabric.h"
#include "emu/inproc_fabric.h"

namespace s3rdma::emu {
namespace {

using core::Duration;
using core::Time;

const NodeAddress kA{Ipv4(10, 0, 0, 1)};
const NodeAddress kB{Ipv4(10, 0, 0, 2)};

RocePacket WritePacket(uint32_t psn, size_t payload_bytes = 1024) {
  RocePacket p;
  p.address.src_port = RoceSourcePort(0x11);
  p.bth.opcode = static_cast<uint8_t>(Opcode::kRdmaWriteMiddle);
  p.bth.dest_qp = 0x12;
  p.bth.psn = psn & kPsnMask;
  std::vector<uint8_t> bytes(payload_bytes);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = uint8_t(psn * 31 + i);
  p.payload = Payload::CopyOf(bytes);
  return p;
}

struct Received {
  Time at;
  RocePacket packet;
};

// Two ports, A sends to B; B records what arrives and when.
struct Pair {
  explicit Pair(core::Runtime& rt, InProcConfig config) : fabric(rt, config) {
    a = std::move(fabric.Attach(kA, [](RocePacket) {}).value());
    b = std::move(fabric.Attach(kB, [this, &rt](RocePacket p) { got.push_back({rt.Now(), std::move(p)}); }).value());
  }
  InProcFabric fabric;
  std::unique_ptr<FabricPort> a, b;
  std::vector<Received> got;
};

TEST(InProcFabric, DeliversAfterSerialisationAndLatency) {
  core::VirtualRuntime rt;
  InProcConfig config;
  config.latency = Duration::Microseconds(2);
  config.link_rate = core::DataRate::Gbps(10);
  Pair pair(rt, config);
  RocePacket p = WritePacket(1, 1024);
  const size_t frame = p.frame_bytes();  // 14 + 20 + 8 + 12 + 1024 + 4
  ASSERT_EQ(frame, 1082u);
  ASSERT_TRUE(pair.a->Send(kB, p).ok());
  ASSERT_TRUE(pair.a->Send(kB, WritePacket(2, 1024)).ok());
  rt.Run();
  ASSERT_EQ(pair.got.size(), 2u);
  // (1082 + 24 wire-overhead bytes) * 8 bits / 10 Gb/s = 884.8 ns per packet.
  const Duration tx = Duration::Picoseconds(884'800);
  EXPECT_EQ(pair.got[0].at, Time::Zero() + tx + Duration::Microseconds(2));
  EXPECT_EQ(pair.got[1].at, Time::Zero() + tx * 2 + Duration::Microseconds(2));
  EXPECT_TRUE(SamePacket(pair.got[0].packet, [&] {
    RocePacket want = p;
    want.address = {kA.ipv4, kB.ipv4, RoceSourcePort(0x11), kRoceUdpPort};
    return want;
  }()));
  EXPECT_EQ(pair.a->stats().tx_packets, 2u);
  EXPECT_EQ(pair.b->stats().rx_packets, 2u);
  EXPECT_EQ(pair.fabric.stats().delivered, 2u);
}

TEST(InProcFabric, NeverDeliversInsideSend) {
  core::VirtualRuntime rt;
  InProcFabric fabric(rt);
  bool in_send = false;
  int delivered = 0;
  auto a = std::move(fabric.Attach(kA, [&](RocePacket) {
                       EXPECT_FALSE(in_send);
                       ++delivered;
                     }).value());
  in_send = true;
  ASSERT_TRUE(a->Send(kA, WritePacket(1)).ok());  // to itself, zero latency
  in_send = false;
  EXPECT_EQ(delivered, 0);
  rt.Run();
  EXPECT_EQ(delivered, 1);
}

TEST(InProcFabric, InOrderWithoutFaultsAndPayloadIntact) {
  core::VirtualRuntime rt;
  InProcConfig config;
  config.latency = Duration::Nanoseconds(500);
  config.link_rate = core::DataRate::Gbps(100);
  Pair pair(rt, config);
  for (uint32_t i = 0; i < 1000; ++i) ASSERT_TRUE(pair.a->Send(kB, WritePacket(i, 256)).ok());
  rt.Run();
  ASSERT_EQ(pair.got.size(), 1000u);
  for (uint32_t i = 0; i < 1000; ++i) {
    EXPECT_EQ(pair.got[i].packet.bth.psn, i);
    EXPECT_TRUE(SamePacket(pair.got[i].packet, [&] {
      RocePacket w = WritePacket(i, 256);
      w.address = {kA.ipv4, kB.ipv4, w.address.src_port, kRoceUdpPort};
      return w;
    }()));
  }
}

TEST(InProcFabric, AddressingErrorsAndLifetime) {
  core::VirtualRuntime rt;
  InProcFabric fabric(rt);
  int got_b = 0;
  auto a = std::move(fabric.Attach(kA, [](RocePacket) {}).value());
  EXPECT_EQ(fabric.Attach(kA, [](RocePacket) {}).status().code(), core::StatusCode::kAlreadyExists);
  ASSERT_TRUE(a->Send(kB, WritePacket(1)).ok());  // nobody at B
  rt.Run();
  EXPECT_EQ(fabric.stats().no_route, 1u);

  auto b = std::move(fabric.Attach(kB, [&](RocePacket) { ++got_b; }).value());
  ASSERT_TRUE(a->Send(kB, WritePacket(2)).ok());
  b.reset();  // detached before delivery: the packet is lost, the callback never runs
  rt.Run();
  EXPECT_EQ(got_b, 0);
  EXPECT_EQ(fabric.stats().no_route, 2u);

  RocePacket bad = WritePacket(3);
  bad.bth.opcode = 0x15;
  EXPECT_FALSE(a->Send(kB, bad).ok());
}

TEST(InProcFabric, CallbackMayDetachPorts) {
  core::VirtualRuntime rt;
  InProcFabric fabric(rt);
  std::unique_ptr<FabricPort> a, b;
  int got = 0;
  a = std::move(fabric.Attach(kA, [](RocePacket) {}).value());
  b = std::move(fabric.Attach(kB, [&](RocePacket) {
                  ++got;
                  a.reset();  // the sender goes away while its link still has packets
                  b.reset();  // and the receiver destroys itself
                }).value());
  for (uint32_t i = 0; i < 10; ++i) ASSERT_TRUE(a->Send(kB, WritePacket(i)).ok());
  rt.Run();
  EXPECT_EQ(got, 1);
}

TEST(InProcFabric, RunsOnRealRuntime) {
  core::RealRuntime rt;
  InProcConfig config;
  config.latency = Duration::Microseconds(50);
  InProcFabric fabric(rt, config);
  int got = 0;
  auto a = std::move(fabric.Attach(kA, [](RocePacket) {}).value());
  auto b = std::move(fabric.Attach(kB, [&](RocePacket p) {
                       if (++got == 100) rt.Stop();
                       EXPECT_EQ(p.payload.size(), 64u);
                     }).value());
  for (uint32_t i = 0; i < 100; ++i) ASSERT_TRUE(a->Send(kB, WritePacket(i, 64)).ok());
  rt.RunFor(Duration::Seconds(5));
  EXPECT_EQ(got, 100);
}

TEST(InProcFabric, ConfigValidation) {
  FaultConfig f;
  EXPECT_TRUE(f.Validate().ok());
  EXPECT_FALSE(f.any());
  f.drop_probability = 1.5;
  EXPECT_FALSE(f.Validate().ok());
  f.drop_probability = -0.1;
  EXPECT_FALSE(f.Validate().ok());
  f.drop_probability = 0.1;
  f.max_extra_delay = Duration::Zero();
  EXPECT_FALSE(f.Validate().ok());
  InProcConfig c;
  c.latency = Duration::Nanoseconds(-1);
  EXPECT_FALSE(c.Validate().ok());
}

// ---- fault injection ---------------------------------------------------------------------

struct FaultRun {
  std::vector<uint32_t> psns;  // arrival order
  std::vector<int64_t> times_ps;
  InProcStats stats;
  PortStats b_stats;
};

FaultRun RunWithFaults(const FaultConfig& faults, uint64_t seed, uint32_t packets) {
  core::VirtualRuntime rt;
  InProcConfig config;
  config.latency = Duration::Microseconds(1);
  config.link_rate = core::DataRate::Gbps(100);
  config.faults = faults;
  config.seed = seed;
  Pair pair(rt, config);
  for (uint32_t i = 0; i < packets; ++i) {
    // Sent one per microsecond, as a paced sender would.
    rt.At(Time::Zero() + Duration::Microseconds(i), [&pair, i] { ASSERT_TRUE(pair.a->Send(kB, WritePacket(i, 64)).ok()); });
  }
  rt.Run();
  FaultRun run;
  for (const Received& r : pair.got) {
    run.psns.push_back(r.packet.bth.psn);
    run.times_ps.push_back(r.at.ps());
  }
  run.stats = pair.fabric.stats();
  run.b_stats = pair.b->stats();
  return run;
}

// |observed - n p| within 6 standard deviations of a binomial(n, p).
void ExpectBinomial(uint64_t observed, uint64_t n, double p, const std::string& what, uint64_t seed) {
  const double mean = double(n) * p;
  const double sd = std::sqrt(double(n) * p * (1 - p));
  EXPECT_NEAR(double(observed), mean, 6 * sd + 1) << what << " (seed " << seed << ")";
}

size_t Inversions(const std::vector<uint32_t>& v) {
  size_t n = 0;
  for (size_t i = 1; i < v.size(); ++i) n += v[i] < v[i - 1];
  return n;
}

constexpr uint32_t kPackets = 20000;

TEST(InProcFaults, DropRate) {
  const uint64_t seed = 101;
  FaultConfig f;
  f.drop_probability = 0.05;
  FaultRun r = RunWithFaults(f, seed, kPackets);
  ExpectBinomial(r.stats.dropped, kPackets, 0.05, "drops", seed);
  EXPECT_EQ(r.psns.size() + r.stats.dropped, kPackets) << "seed " << seed;
  EXPECT_EQ(Inversions(r.psns), 0u) << "drops alone must not reorder (seed " << seed << ")";
}

TEST(InProcFaults, DuplicateRate) {
  const uint64_t seed = 202;
  FaultConfig f;
  f.duplicate_probability = 0.05;
  FaultRun r = RunWithFaults(f, seed, kPackets);
  ExpectBinomial(r.stats.duplicated, kPackets, 0.05, "duplicates", seed);
  EXPECT_EQ(r.psns.size(), kPackets + r.stats.duplicated) << "seed " << seed;
  std::vector<int> count(kPackets);
  for (uint32_t psn : r.psns) ++count[psn];
  for (int c : count) ASSERT_TRUE(c == 1 || c == 2) << "seed " << seed;
}

TEST(InProcFaults, ReorderRate) {
  const uint64_t seed = 303;
  FaultConfig f;
  f.reorder_probability = 0.05;
  f.max_extra_delay = Duration::Microseconds(20);
  FaultRun r = RunWithFaults(f, seed, kPackets);
  ExpectBinomial(r.stats.reordered, kPackets, 0.05, "reordered", seed);
  EXPECT_EQ(r.psns.size(), kPackets) << "seed " << seed;
  EXPECT_GT(Inversions(r.psns), r.stats.reordered / 2) << "held-back packets must be overtaken (seed " << seed << ")";
}

TEST(InProcFaults, CorruptedPacketsFailTheIcrcAndAreDropped) {
  const uint64_t seed = 404;
  FaultConfig f;
  f.corrupt_probability = 0.02;
  FaultRun r = RunWithFaults(f, seed, kPackets);
  ExpectBinomial(r.stats.corrupted, kPackets, 0.02, "corrupted", seed);
  EXPECT_GT(r.stats.corrupted, 0u);
  EXPECT_EQ(r.stats.corrupt_delivered, 0u) << "seed " << seed;
  EXPECT_EQ(r.b_stats.rx_dropped_icrc + r.b_stats.rx_dropped_malformed, r.stats.corrupted) << "seed " << seed;
  EXPECT_EQ(r.psns.size(), kPackets - r.stats.corrupted);
}

TEST(InProcFaults, DelayStallsTheLinkWithoutReordering) {
  const uint64_t seed = 505;
  FaultConfig f;
  f.delay_probability = 0.01;
  f.max_extra_delay = Duration::Microseconds(30);
  FaultRun r = RunWithFaults(f, seed, kPackets);
  ExpectBinomial(r.stats.delayed, kPackets, 0.01, "delayed", seed);
  EXPECT_EQ(r.psns.size(), kPackets);
  EXPECT_EQ(Inversions(r.psns), 0u) << "seed " << seed;
  FaultRun clean = RunWithFaults(FaultConfig{}, seed, kPackets);
  int64_t sum = 0, clean_sum = 0;
  for (int64_t t : r.times_ps) sum += t;
  for (int64_t t : clean.times_ps) clean_sum += t;
  EXPECT_GT(sum, clean_sum) << "stalls must delay delivery (seed " << seed << ")";
}

TEST(InProcFaults, DeterministicPerSeed) {
  FaultConfig f;
  f.drop_probability = 0.05;
  f.duplicate_probability = 0.05;
  f.reorder_probability = 0.05;
  f.corrupt_probability = 0.02;
  f.delay_probability = 0.02;
  for (uint64_t seed : {1ull, 2ull, 99ull}) {
    FaultRun x = RunWithFaults(f, seed, 3000);
    FaultRun y = RunWithFaults(f, seed, 3000);
    EXPECT_EQ(x.psns, y.psns) << "seed " << seed;
    EXPECT_EQ(x.times_ps, y.times_ps) << "seed " << seed;
    EXPECT_EQ(x.stats.dropped, y.stats.dropped) << "seed " << seed;
  }
  EXPECT_NE(RunWithFaults(f, 1, 3000).psns, RunWithFaults(f, 2, 3000).psns);
}

TEST(InProcFaults, IdealFabricWithFaults) {
  // No latency, unlimited rate (the fast path that never reads the clock) plus every fault.
  const uint64_t seed = 606;
  auto run = [&] {
    core::VirtualRuntime rt;
    InProcConfig config;
    config.seed = seed;
    config.faults.drop_probability = 0.05;
    config.faults.duplicate_probability = 0.05;
    config.faults.reorder_probability = 0.05;
    config.faults.delay_probability = 0.05;
    Pair pair(rt, config);
    for (uint32_t i = 0; i < 5000; ++i) {
      rt.At(Time::Zero() + Duration::Microseconds(i), [&pair, i] { ASSERT_TRUE(pair.a->Send(kB, WritePacket(i, 64)).ok()); });
    }
    rt.Run();
    std::vector<uint32_t> psns;
    for (const Received& r : pair.got) psns.push_back(r.packet.bth.psn);
    EXPECT_EQ(psns.size() + pair.fabric.stats().dropped, 5000 + pair.fabric.stats().duplicated) << "seed " << seed;
    ExpectBinomial(pair.fabric.stats().reordered, 5000, 0.05, "reordered", seed);
    ExpectBinomial(pair.fabric.stats().delayed, 5000, 0.05, "delayed", seed);
    EXPECT_GT(Inversions(psns), 0u) << "seed " << seed;
    for (const Received& r : pair.got) {
      // Nothing arrives before it was sent (psn i was sent at i us).
      EXPECT_GE(r.at, Time::Zero() + Duration::Microseconds(r.packet.bth.psn)) << "seed " << seed;
    }
    return psns;
  };
  EXPECT_EQ(run(), run()) << "seed " << seed;
}

TEST(InProcFaults, SetFaultsHealsTheNetwork) {
  core::VirtualRuntime rt;
  InProcConfig config;
  config.faults.drop_probability = 1.0;
  Pair pair(rt, config);
  ASSERT_TRUE(pair.a->Send(kB, WritePacket(1)).ok());
  rt.Run();
  EXPECT_TRUE(pair.got.empty());
  pair.fabric.SetFaults(FaultConfig{});
  ASSERT_TRUE(pair.a->Send(kB, WritePacket(2)).ok());
  rt.Run();
  ASSERT_EQ(pair.got.size(), 1u);
  EXPECT_EQ(pair.got[0].packet.bth.psn, 2u);
}

TEST(NodeAddress, ParseAndPrint) {
  auto a = ParseNodeAddress("127.0.0.2:5000");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->ipv4, Ipv4(127, 0, 0, 2));
  EXPECT_EQ(a->udp_port, 5000);
  EXPECT_EQ(a->ToString(), "127.0.0.2:5000");
  EXPECT_EQ(ParseNodeAddress("10.0.0.1")->udp_port, kRoceUdpPort);
  EXPECT_EQ(GidToString(a->gid()), "::ffff:127.0.0.2");
  for (const char* bad : {"10.0.0.1:", "10.0.0.1:70000", "10.0.0.1:x", "host:1"}) {
    EXPECT_FALSE(ParseNodeAddress(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace s3rdma::emu
