// Test helpers: two software NICs on an in-process fabric in virtual time, each with a PD,
// CQs, a registered buffer, and one RC QP connected to the other.
#ifndef S3RDMA_TESTS_UNIT_EMU_RC_TEST_UTIL_H_
#define S3RDMA_TESTS_UNIT_EMU_RC_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "core/virtual_runtime.h"
#include "emu/inproc_fabric.h"
#include "emu/pcap.h"
#include "emu/verbs.h"

namespace s3rdma::emu::testing {

struct Node {
  std::unique_ptr<Device> dev;
  std::unique_ptr<ProtectionDomain> pd;
  std::unique_ptr<CompletionQueue> scq;
  std::unique_ptr<CompletionQueue> rcq;
  std::vector<uint8_t> buf;
  std::unique_ptr<MemoryRegion> mr;
  std::unique_ptr<QueuePair> qp;

  uint64_t addr(size_t off = 0) const { return reinterpret_cast<uint64_t>(buf.data()) + off; }
  Sge sge(size_t off, uint32_t len) const { return Sge{addr(off), len, mr->lkey()}; }
  // Destroys in child-first order.
  void Reset() {
    qp.reset();
    mr.reset();
    scq.reset();
    rcq.reset();
    pd.reset();
    dev.reset();
  }
  ~Node() { Reset(); }
};

struct PairOptions {
  InProcConfig fabric;
  size_t buf_bytes = 1 << 16;
  uint32_t mr_access = kAccessLocalWrite | kAccessRemoteWrite | kAccessRemoteRead |
                       kAccessRemoteAtomic;
  uint32_t qp_access = kAccessRemoteWrite | kAccessRemoteRead | kAccessRemoteAtomic;
  Mtu mtu = Mtu::k1024;
  uint8_t timeout = 10;  // ~4 ms
  uint8_t retry_cnt = 7;
  uint8_t rnr_retry = 7;
  uint8_t min_rnr_timer = 1;  // 10 us
  uint8_t max_rd_atomic = 4;
  uint32_t a_psn = 100;
  uint32_t b_psn = 0xFFFFF0;  // wraps through 0 quickly
  QpCap cap;
  int cq_size = 4096;
  bool sq_sig_all = false;
  DeviceOptions dev;
  std::string pcap_path;  // if set, every packet is captured there (PcapCapture)
};

// Brings `qp` through INIT, RTR and RTS towards `peer`. Returns the first non-zero errno.
inline int ConnectQp(QueuePair& qp, const QueuePair& peer, const Device& peer_dev,
                     const PairOptions& o, uint32_t sq_psn, uint32_t rq_psn) {
  QpAttr a;
  a.qp_state = QpState::kInit;
  a.qp_access_flags = o.qp_access;
  if (int rc = qp.Modify(a, kQpAttrState | kQpAttrAccessFlags)) return rc;
  a.qp_state = QpState::kRtr;
  a.path_mtu = o.mtu;
  a.dest_qp_num = peer.qp_num();
  a.dest_gid = peer_dev.gid();
  a.dest_udp_port = peer_dev.address().udp_port;
  a.rq_psn = rq_psn;
  a.max_dest_rd_atomic = o.max_rd_atomic;
  a.min_rnr_timer = o.min_rnr_timer;
  if (int rc = qp.Modify(a, kQpAttrState | kQpAttrAv | kQpAttrPathMtu | kQpAttrDestQpn |
                                kQpAttrRqPsn | kQpAttrMaxDestRdAtomic | kQpAttrMinRnrTimer)) {
    return rc;
  }
  a.qp_state = QpState::kRts;
  a.sq_psn = sq_psn;
  a.timeout = o.timeout;
  a.retry_cnt = o.retry_cnt;
  a.rnr_retry = o.rnr_retry;
  a.max_rd_atomic = o.max_rd_atomic;
  return qp.Modify(a, kQpAttrState | kQpAttrSqPsn | kQpAttrTimeout | kQpAttrRetryCnt |
                          kQpAttrRnrRetry | kQpAttrMaxQpRdAtomic);
}

// Two connected nodes, A (10.0.0.1) and B (10.0.0.2).
class RcPair {
 public:
  explicit RcPair(PairOptions o = {}) : opts_(o), fabric_(rt_, o.fabric) {
    if (!o.pcap_path.empty()) {
      auto w = PcapWriter::Open(o.pcap_path);
      EXPECT_TRUE(w.ok()) << w.status().ToString();
      if (w.ok()) {
        capture_ = std::make_unique<PcapCapture>(
            fabric_, std::shared_ptr<PcapWriter>(std::move(w).value()));
      }
    }
    InitNode(a_, Ipv4(10, 0, 0, 1));
    InitNode(b_, Ipv4(10, 0, 0, 2));
    EXPECT_EQ(ConnectQp(*a_.qp, *b_.qp, *b_.dev, o, o.a_psn, o.b_psn), 0);
    EXPECT_EQ(ConnectQp(*b_.qp, *a_.qp, *a_.dev, o, o.b_psn, o.a_psn), 0);
  }
  ~RcPair() {
    a_.Reset();
    b_.Reset();
    capture_.reset();  // flushes the pcap file
  }

  core::VirtualRuntime& rt() { return rt_; }
  InProcFabric& fabric() { return fabric_; }
  Node& a() { return a_; }
  Node& b() { return b_; }
  const PairOptions& opts() const { return opts_; }

  // Runs until `cq` holds at least `n` completions or virtual time reaches `limit`.
  bool RunUntilCompletions(CompletionQueue& cq, size_t n,
                           core::Duration limit = core::Duration::Seconds(30)) {
    core::Time end = rt_.Now() + limit;
    while (cq.size() < n) {
      if (rt_.pending() == 0 || rt_.Now() > end) return false;
      rt_.RunEvents(1);
    }
    return true;
  }
  std::vector<WorkCompletion> Drain(CompletionQueue& cq) {
    std::vector<WorkCompletion> out(cq.size());
    out.resize(cq.Poll(out));
    return out;
  }
  WorkCompletion WaitOne(CompletionQueue& cq) {
    EXPECT_TRUE(RunUntilCompletions(cq, 1)) << "no completion";
    WorkCompletion wc;
    wc.status = WcStatus::kGeneralErr;
    wc.wr_id = ~uint64_t{0};
    cq.Poll({&wc, 1});
    return wc;
  }

 private:
  void InitNode(Node& n, uint32_t ip) {
    Fabric& fabric = capture_ ? static_cast<Fabric&>(*capture_) : fabric_;
    auto dev = Device::Open(fabric, NodeAddress{ip, kRoceUdpPort}, opts_.dev);
    ASSERT_TRUE(dev.ok()) << dev.status().ToString();
    n.dev = std::move(dev).value();
    n.pd = std::move(n.dev->AllocPd()).value();
    n.scq = std::move(n.dev->CreateCq(opts_.cq_size)).value();
    n.rcq = std::move(n.dev->CreateCq(opts_.cq_size)).value();
    n.buf.assign(opts_.buf_bytes, 0);
    n.mr = std::move(n.pd->RegisterMemory(n.buf.data(), n.buf.size(), opts_.mr_access)).value();
    QpInitAttr init;
    init.send_cq = n.scq.get();
    init.recv_cq = n.rcq.get();
    init.cap = opts_.cap;
    init.sq_sig_all = opts_.sq_sig_all;
    n.qp = std::move(n.pd->CreateQp(init)).value();
  }

  PairOptions opts_;
  core::VirtualRuntime rt_;
  InProcFabric fabric_;
  std::unique_ptr<PcapCapture> capture_;
  Node a_;
  Node b_;
};

inline void Fill(std::vector<uint8_t>& v, size_t off, size_t len, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (size_t i = 0; i < len; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v[off + i] = static_cast<uint8_t>(x);
  }
}

}  // namespace s3rdma::emu::testing

#endif  // S3RDMA_TESTS_UNIT_EMU_RC_TEST_UTIL_H_
