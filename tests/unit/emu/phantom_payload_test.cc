// The simulation-only fabric capabilities of emu/fabric.h: a message MTU larger than any
// path MTU (one packet per message, for flow-level fabrics) and phantom payloads (sizes
// only; memory regions with no memory behind them). Real fabrics never advertise them.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "core/virtual_runtime.h"
#include "emu/inproc_fabric.h"
#include "emu/udp_fabric.h"
#include "emu/verbs.h"
#include "rc_test_util.h"

namespace s3rdma::emu {
namespace {

using testing::ConnectQp;
using testing::PairOptions;

// An InProcFabric that advertises the simulation capabilities (as sim::ModelFabric does).
class CapsFabric final : public Fabric {
 public:
  CapsFabric(core::Runtime& rt, uint32_t message_mtu, bool phantom)
      : inner_(rt, InProcConfig{}), message_mtu_(message_mtu), phantom_(phantom) {}
  core::Result<std::unique_ptr<FabricPort>> Attach(const NodeAddress& a, ReceiveCallback cb) override {
    return inner_.Attach(a, std::move(cb));
  }
  core::Runtime& runtime() override { return inner_.runtime(); }
  uint32_t message_mtu_bytes() const override { return message_mtu_; }
  bool phantom_payloads() const override { return phantom_; }
  const InProcStats& stats() const { return inner_.stats(); }

 private:
  InProcFabric inner_;
  uint32_t message_mtu_;
  bool phantom_;
};

struct Side {
  std::unique_ptr<Device> dev;
  std::unique_ptr<ProtectionDomain> pd;
  std::unique_ptr<CompletionQueue> cq;
  std::unique_ptr<MemoryRegion> mr;
  std::unique_ptr<QueuePair> qp;
  ~Side() {
    qp.reset();
    mr.reset();
    cq.reset();
    pd.reset();
    dev.reset();
  }
};

class World {
 public:
  // `a_mem`/`b_mem` may be fake addresses on a phantom fabric.
  World(uint32_t message_mtu, bool phantom, uint64_t a_mem, uint64_t b_mem, size_t len)
      : fabric_(rt_, message_mtu, phantom) {
    Init(a_, Ipv4(10, 0, 0, 1), a_mem, len);
    Init(b_, Ipv4(10, 0, 0, 2), b_mem, len);
    PairOptions o;
    o.mtu = Mtu::k1024;
    EXPECT_EQ(ConnectQp(*a_.qp, *b_.qp, *b_.dev, o, 100, 200), 0);
    EXPECT_EQ(ConnectQp(*b_.qp, *a_.qp, *a_.dev, o, 200, 100), 0);
  }
  // Posts one signalled WRITE or READ of `len` bytes from A and returns its completion.
  WorkCompletion Run(WrOpcode op, uint32_t len) {
    Sge sge{a_.mr->addr(), len, a_.mr->lkey()};
    SendWr wr;
    wr.wr_id = 7;
    wr.opcode = op;
    wr.send_flags = kSendSignaled;
    wr.sg_list = {&sge, 1};
    wr.rdma.remote_addr = b_.mr->addr();
    wr.rdma.rkey = b_.mr->rkey();
    EXPECT_EQ(a_.qp->PostSend(wr), 0);
    WorkCompletion wc;
    wc.status = WcStatus::kGeneralErr;
    const core::Time end = rt_.Now() + core::Duration::Seconds(10);
    while (a_.cq->size() == 0 && rt_.pending() > 0 && rt_.Now() < end) rt_.RunEvents(1);
    EXPECT_EQ(a_.cq->Poll({&wc, 1}), 1);
    return wc;
  }
  const QueuePair& qp_a() const { return *a_.qp; }
  const CapsFabric& fabric() const { return fabric_; }

 private:
  void Init(Side& s, uint32_t ip, uint64_t mem, size_t len) {
    s.dev = std::move(Device::Open(fabric_, {ip, kRoceUdpPort})).value();
    s.pd = std::move(s.dev->AllocPd()).value();
    s.cq = std::move(s.dev->CreateCq(64)).value();
    s.mr = std::move(s.pd->RegisterMemory(reinterpret_cast<void*>(mem), len,
                                          kAccessLocalWrite | kAccessRemoteWrite | kAccessRemoteRead))
               .value();
    QpInitAttr init;
    init.send_cq = s.cq.get();
    init.recv_cq = s.cq.get();
    s.qp = std::move(s.pd->CreateQp(init)).value();
  }

  core::VirtualRuntime rt_;
  CapsFabric fabric_;
  Side a_;
  Side b_;
};

TEST(MessageMtuTest, RealFabricsAdvertiseNothing) {
  core::VirtualRuntime rt;
  InProcFabric inproc(rt);
  EXPECT_EQ(inproc.message_mtu_bytes(), 0u);
  EXPECT_FALSE(inproc.phantom_payloads());
}

TEST(MessageMtuTest, WriteAndReadAreOnePacketPerMessageWithRealBytes) {
  constexpr size_t kLen = 48 << 10;
  std::vector<uint8_t> a(kLen), b(kLen);
  testing::Fill(a, 0, kLen, 1);
  testing::Fill(b, 0, kLen, 2);
  // 60 KiB message MTU: a 48 KiB WRITE is one packet (a 1 KiB path MTU would make 48).
  World w(60 << 10, false, reinterpret_cast<uint64_t>(a.data()), reinterpret_cast<uint64_t>(b.data()), kLen);
  WorkCompletion wc = w.Run(WrOpcode::kRdmaWrite, kLen);
  EXPECT_EQ(wc.status, WcStatus::kSuccess) << WcStatusName(wc.status);
  EXPECT_EQ(a, b);
  EXPECT_EQ(w.qp_a().stats().packets_sent, 1u);
  testing::Fill(b, 0, kLen, 3);
  wc = w.Run(WrOpcode::kRdmaRead, kLen);
  EXPECT_EQ(wc.status, WcStatus::kSuccess) << WcStatusName(wc.status);
  EXPECT_EQ(a, b);
  EXPECT_EQ(w.qp_a().stats().packets_sent, 2u);  // + one READ request; one response back
}

TEST(MessageMtuTest, MessagesLargerThanTheMessageMtuAreSegmented) {
  constexpr size_t kLen = 40000;  // not a multiple of 16 KiB
  std::vector<uint8_t> a(kLen), b(kLen);
  testing::Fill(a, 0, kLen, 4);
  World w(16 << 10, false, reinterpret_cast<uint64_t>(a.data()), reinterpret_cast<uint64_t>(b.data()), kLen);
  WorkCompletion wc = w.Run(WrOpcode::kRdmaWrite, kLen);
  EXPECT_EQ(wc.status, WcStatus::kSuccess) << WcStatusName(wc.status);
  EXPECT_EQ(a, b);
  EXPECT_EQ(w.qp_a().stats().packets_sent, 3u);
}

TEST(PhantomPayloadTest, WriteAndReadBetweenRegionsWithoutMemory) {
  // Neither address has memory behind it: touching a byte would crash the test.
  constexpr uint64_t kA = 0x7a0000000000ull, kB = 0x7b0000000000ull;
  constexpr size_t kLen = 1 << 20;
  World w(16 << 10, true, kA, kB, kLen);
  WorkCompletion wc = w.Run(WrOpcode::kRdmaWrite, kLen);
  EXPECT_EQ(wc.status, WcStatus::kSuccess) << WcStatusName(wc.status);
  wc = w.Run(WrOpcode::kRdmaRead, kLen);
  EXPECT_EQ(wc.status, WcStatus::kSuccess) << WcStatusName(wc.status);
  EXPECT_EQ(w.qp_a().stats().packets_sent, 64u + 1u);  // 64 WRITE packets + 1 READ request
  EXPECT_GE(w.fabric().stats().delivered, 64u + 1u + 64u);
}

TEST(PhantomPayloadTest, RemoteAccessIsStillChecked) {
  constexpr uint64_t kA = 0x7a0000000000ull, kB = 0x7b0000000000ull;
  World w(16 << 10, true, kA, kB, 4096);
  // 8 KiB into a 4 KiB region: the responder NAKs, as with real memory.
  WorkCompletion wc = w.Run(WrOpcode::kRdmaWrite, 8192);
  EXPECT_NE(wc.status, WcStatus::kSuccess);
}

// timeout 0 means no ACK timer (ibverbs): the deadline must not overflow (UBSan in CI), and
// a message acknowledged late is still completed (flow fidelity sets it: docs/protocol-mode.md).
TEST(MessageMtuTest, InfiniteAckTimeoutCompletes) {
  PairOptions o;
  o.timeout = 0;
  testing::RcPair pair(o);
  testing::Fill(pair.a().buf, 0, 4096, 9);
  Sge sge = pair.a().sge(0, 4096);
  SendWr wr;
  wr.wr_id = 1;
  wr.opcode = WrOpcode::kRdmaWrite;
  wr.send_flags = kSendSignaled;
  wr.sg_list = {&sge, 1};
  wr.rdma.remote_addr = pair.b().addr();
  wr.rdma.rkey = pair.b().mr->rkey();
  ASSERT_EQ(pair.a().qp->PostSend(wr), 0);
  WorkCompletion wc = pair.WaitOne(*pair.a().scq);
  EXPECT_EQ(wc.status, WcStatus::kSuccess) << WcStatusName(wc.status);
  EXPECT_TRUE(std::equal(pair.a().buf.begin(), pair.a().buf.begin() + 4096, pair.b().buf.begin()));
}

TEST(PhantomPayloadTest, PhantomPayloadKeepsItsSizeAndSlices) {
  Payload p = Payload::Phantom(1 << 20);
  EXPECT_TRUE(p.phantom());
  EXPECT_EQ(p.size(), 1u << 20);
  EXPECT_EQ(p.data(), nullptr);
  Payload s = p.Slice(4096, 8192);
  EXPECT_TRUE(s.phantom());
  EXPECT_EQ(s.size(), 8192u);
  EXPECT_FALSE(Payload::CopyOf(std::vector<uint8_t>{1, 2}).phantom());
  EXPECT_FALSE(Payload().phantom());
}

}  // namespace
}  // namespace s3rdma::emu
