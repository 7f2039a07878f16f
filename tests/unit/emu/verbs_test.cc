// The verbs-like API against rdma-core's <infiniband/verbs.h> (the reference for names and
// values), and the object rules: memory registration, keys, bounds, CQ, device limits.
#include <infiniband/verbs.h>

#include <cstring>

#include <gtest/gtest.h>

#include "core/virtual_runtime.h"
#include "emu/inproc_fabric.h"
#include "emu/verbs.h"

namespace s3rdma::emu {
namespace {

#define SAME(ours, theirs) static_assert(static_cast<uint32_t>(ours) == static_cast<uint32_t>(theirs), #theirs)
SAME(WcStatus::kSuccess, IBV_WC_SUCCESS);
SAME(WcStatus::kLocLenErr, IBV_WC_LOC_LEN_ERR);
SAME(WcStatus::kLocQpOpErr, IBV_WC_LOC_QP_OP_ERR);
SAME(WcStatus::kLocProtErr, IBV_WC_LOC_PROT_ERR);
SAME(WcStatus::kWrFlushErr, IBV_WC_WR_FLUSH_ERR);
SAME(WcStatus::kBadRespErr, IBV_WC_BAD_RESP_ERR);
SAME(WcStatus::kLocAccessErr, IBV_WC_LOC_ACCESS_ERR);
SAME(WcStatus::kRemInvReqErr, IBV_WC_REM_INV_REQ_ERR);
SAME(WcStatus::kRemAccessErr, IBV_WC_REM_ACCESS_ERR);
SAME(WcStatus::kRemOpErr, IBV_WC_REM_OP_ERR);
SAME(WcStatus::kRetryExcErr, IBV_WC_RETRY_EXC_ERR);
SAME(WcStatus::kRnrRetryExcErr, IBV_WC_RNR_RETRY_EXC_ERR);
SAME(WcStatus::kRemInvRdReqErr, IBV_WC_REM_INV_RD_REQ_ERR);
SAME(WcStatus::kRemAbortErr, IBV_WC_REM_ABORT_ERR);
SAME(WcStatus::kFatalErr, IBV_WC_FATAL_ERR);
SAME(WcStatus::kRespTimeoutErr, IBV_WC_RESP_TIMEOUT_ERR);
SAME(WcStatus::kGeneralErr, IBV_WC_GENERAL_ERR);
SAME(WcOpcode::kSend, IBV_WC_SEND);
SAME(WcOpcode::kRdmaWrite, IBV_WC_RDMA_WRITE);
SAME(WcOpcode::kRdmaRead, IBV_WC_RDMA_READ);
SAME(WcOpcode::kCompSwap, IBV_WC_COMP_SWAP);
SAME(WcOpcode::kFetchAdd, IBV_WC_FETCH_ADD);
SAME(WcOpcode::kRecv, IBV_WC_RECV);
SAME(WcOpcode::kRecvRdmaWithImm, IBV_WC_RECV_RDMA_WITH_IMM);
SAME(WrOpcode::kRdmaWrite, IBV_WR_RDMA_WRITE);
SAME(WrOpcode::kRdmaWriteWithImm, IBV_WR_RDMA_WRITE_WITH_IMM);
SAME(WrOpcode::kSend, IBV_WR_SEND);
SAME(WrOpcode::kSendWithImm, IBV_WR_SEND_WITH_IMM);
SAME(WrOpcode::kRdmaRead, IBV_WR_RDMA_READ);
SAME(WrOpcode::kAtomicCmpAndSwp, IBV_WR_ATOMIC_CMP_AND_SWP);
SAME(WrOpcode::kAtomicFetchAndAdd, IBV_WR_ATOMIC_FETCH_AND_ADD);
SAME(QpState::kReset, IBV_QPS_RESET);
SAME(QpState::kInit, IBV_QPS_INIT);
SAME(QpState::kRtr, IBV_QPS_RTR);
SAME(QpState::kRts, IBV_QPS_RTS);
SAME(QpState::kSqd, IBV_QPS_SQD);
SAME(QpState::kSqe, IBV_QPS_SQE);
SAME(QpState::kErr, IBV_QPS_ERR);
SAME(Mtu::k256, IBV_MTU_256);
SAME(Mtu::k1024, IBV_MTU_1024);
SAME(Mtu::k4096, IBV_MTU_4096);
SAME(kAccessLocalWrite, IBV_ACCESS_LOCAL_WRITE);
SAME(kAccessRemoteWrite, IBV_ACCESS_REMOTE_WRITE);
SAME(kAccessRemoteRead, IBV_ACCESS_REMOTE_READ);
SAME(kAccessRemoteAtomic, IBV_ACCESS_REMOTE_ATOMIC);
SAME(kSendFence, IBV_SEND_FENCE);
SAME(kSendSignaled, IBV_SEND_SIGNALED);
SAME(kSendSolicited, IBV_SEND_SOLICITED);
SAME(kSendInline, IBV_SEND_INLINE);
SAME(kWcWithImm, IBV_WC_WITH_IMM);
SAME(kQpAttrState, IBV_QP_STATE);
SAME(kQpAttrAccessFlags, IBV_QP_ACCESS_FLAGS);
SAME(kQpAttrAv, IBV_QP_AV);
SAME(kQpAttrPathMtu, IBV_QP_PATH_MTU);
SAME(kQpAttrTimeout, IBV_QP_TIMEOUT);
SAME(kQpAttrRetryCnt, IBV_QP_RETRY_CNT);
SAME(kQpAttrRnrRetry, IBV_QP_RNR_RETRY);
SAME(kQpAttrRqPsn, IBV_QP_RQ_PSN);
SAME(kQpAttrMaxQpRdAtomic, IBV_QP_MAX_QP_RD_ATOMIC);
SAME(kQpAttrMinRnrTimer, IBV_QP_MIN_RNR_TIMER);
SAME(kQpAttrSqPsn, IBV_QP_SQ_PSN);
SAME(kQpAttrMaxDestRdAtomic, IBV_QP_MAX_DEST_RD_ATOMIC);
SAME(kQpAttrDestQpn, IBV_QP_DEST_QPN);
#undef SAME

TEST(Verbs, StatusNamesMatchIbverbsSuffixes) {
  EXPECT_STREQ(WcStatusName(WcStatus::kRetryExcErr), "RETRY_EXC_ERR");
  EXPECT_STREQ(WcStatusName(WcStatus::kWrFlushErr), "WR_FLUSH_ERR");
  EXPECT_STREQ(WcStatusName(WcStatus::kGeneralErr), "GENERAL_ERR");
  EXPECT_STREQ(WcOpcodeName(WcOpcode::kRecvRdmaWithImm), "RECV_RDMA_WITH_IMM");
  EXPECT_STREQ(QpStateName(QpState::kRts), "RTS");
}

TEST(Verbs, TimersFollowIbta) {
  EXPECT_EQ(MtuBytes(Mtu::k256), 256u);
  EXPECT_EQ(MtuBytes(Mtu::k4096), 4096u);
  EXPECT_EQ(MtuBytes(static_cast<Mtu>(0)), 0u);
  EXPECT_EQ(AckTimeout(14), core::Duration::Nanoseconds(4096) * 16384);  // ~67 ms
  EXPECT_EQ(AckTimeout(0), core::Duration::Max()) << "0 = infinite";
  EXPECT_EQ(RnrTimerDelay(1), core::Duration::Microseconds(10));
  EXPECT_EQ(RnrTimerDelay(14), core::Duration::Microseconds(1280));
  EXPECT_EQ(RnrTimerDelay(0), core::Duration::Microseconds(655360));
  EXPECT_EQ(RnrTimerDelay(31), core::Duration::Microseconds(491520));
}

class VerbsObjects : public ::testing::Test {
 protected:
  void SetUp() override {
    dev_ = std::move(Device::Open(fabric_, {Ipv4(192, 168, 1, 5), kRoceUdpPort})).value();
    pd_ = std::move(dev_->AllocPd()).value();
  }
  void TearDown() override {
    pd_.reset();
    dev_.reset();
  }
  core::VirtualRuntime rt_;
  InProcFabric fabric_{rt_};
  std::unique_ptr<Device> dev_;
  std::unique_ptr<ProtectionDomain> pd_;
};

TEST_F(VerbsObjects, DeviceGidIsIpv4Mapped) {
  EXPECT_EQ(GidToString(dev_->gid()), "::ffff:192.168.1.5");
  EXPECT_EQ(dev_->address().ipv4, Ipv4(192, 168, 1, 5));
}

TEST_F(VerbsObjects, MemoryRegistrationRules) {
  std::vector<uint8_t> buf(4096);
  // ibv_reg_mr: remote write / atomic require local write.
  EXPECT_FALSE(pd_->RegisterMemory(buf.data(), buf.size(), kAccessRemoteWrite).ok());
  EXPECT_FALSE(pd_->RegisterMemory(buf.data(), buf.size(), kAccessRemoteAtomic).ok());
  EXPECT_FALSE(pd_->RegisterMemory(buf.data(), buf.size(), 1u << 9).ok()) << "unknown flag";
  EXPECT_FALSE(pd_->RegisterMemory(nullptr, 10, kAccessLocalWrite).ok());
  auto mr = std::move(pd_->RegisterMemory(buf.data(), buf.size(),
                                          kAccessLocalWrite | kAccessRemoteRead)).value();
  uint64_t base = reinterpret_cast<uint64_t>(buf.data());
  EXPECT_EQ(mr->lkey(), mr->rkey());
  EXPECT_EQ(dev_->FindMr(mr->rkey()), mr.get());
  EXPECT_EQ(dev_->FindMr(mr->rkey() ^ 1), nullptr) << "key byte must match";
  EXPECT_EQ(dev_->FindMr(0), nullptr);
  EXPECT_TRUE(mr->Covers(base, 4096, kAccessRemoteRead));
  EXPECT_TRUE(mr->Covers(base + 4096, 0, kAccessRemoteRead));
  EXPECT_FALSE(mr->Covers(base + 1, 4096, kAccessRemoteRead)) << "one byte past the end";
  EXPECT_FALSE(mr->Covers(base - 1, 2, kAccessRemoteRead)) << "one byte before";
  EXPECT_FALSE(mr->Covers(base, 8, kAccessRemoteWrite)) << "access not granted";
  EXPECT_FALSE(mr->Covers(base + 8, ~uint64_t{0}, kAccessRemoteRead)) << "length overflow";
  uint32_t old_key = mr->rkey();
  mr.reset();
  EXPECT_EQ(dev_->FindMr(old_key), nullptr) << "deregistered";
  auto mr2 = std::move(pd_->RegisterMemory(buf.data(), 16, kAccessLocalWrite)).value();
  EXPECT_NE(mr2->rkey(), old_key) << "a reused slot gets a new key";
  EXPECT_EQ(dev_->FindMr(old_key), nullptr);
}

TEST_F(VerbsObjects, CompletionQueueRingAndOverflow) {
  EXPECT_FALSE(dev_->CreateCq(0).ok());
  auto cq = std::move(dev_->CreateCq(3)).value();
  for (uint64_t i = 0; i < 5; ++i) {
    WorkCompletion wc;
    wc.wr_id = i;
    cq->Push(wc);
  }
  EXPECT_EQ(cq->size(), 3u);
  EXPECT_EQ(cq->overflows(), 2u);
  WorkCompletion out[2];
  ASSERT_EQ(cq->Poll(out), 2);
  EXPECT_EQ(out[0].wr_id, 0u);
  EXPECT_EQ(out[1].wr_id, 1u);
  WorkCompletion more;
  more.wr_id = 9;
  cq->Push(more);
  ASSERT_EQ(cq->Poll(out), 2);
  EXPECT_EQ(out[0].wr_id, 2u);
  EXPECT_EQ(out[1].wr_id, 9u);
  EXPECT_EQ(cq->Poll(out), 0);
}

TEST_F(VerbsObjects, QpCreationChecksLimits) {
  auto cq = std::move(dev_->CreateCq(16)).value();
  QpInitAttr init;
  EXPECT_FALSE(pd_->CreateQp(init).ok()) << "no CQs";
  init.send_cq = init.recv_cq = cq.get();
  init.cap.max_send_sge = kMaxSge + 1;
  EXPECT_FALSE(pd_->CreateQp(init).ok());
  init.cap.max_send_sge = 1;
  init.cap.max_inline_data = kMaxInlineData + 1;
  EXPECT_FALSE(pd_->CreateQp(init).ok());
  init.cap.max_inline_data = 0;
  auto q1 = std::move(pd_->CreateQp(init)).value();
  auto q2 = std::move(pd_->CreateQp(init)).value();
  EXPECT_NE(q1->qp_num(), q2->qp_num());
  EXPECT_GE(q1->qp_num(), 2u) << "QPN 0 and 1 are special";
  q1.reset();
  q2.reset();
}

TEST_F(VerbsObjects, PacketsForUnknownQpsAreCounted) {
  std::vector<uint8_t> dummy;
  auto other = std::move(Device::Open(fabric_, {Ipv4(192, 168, 1, 6), kRoceUdpPort})).value();
  auto opd = std::move(other->AllocPd()).value();
  auto cq = std::move(other->CreateCq(16)).value();
  QpInitAttr init;
  init.send_cq = init.recv_cq = cq.get();
  auto qp = std::move(opd->CreateQp(init)).value();
  QpAttr a;
  a.qp_state = QpState::kInit;
  ASSERT_EQ(qp->Modify(a, kQpAttrState | kQpAttrAccessFlags), 0);
  a.qp_state = QpState::kRtr;
  a.dest_gid = dev_->gid();
  a.dest_qp_num = 4242;  // nobody
  ASSERT_EQ(qp->Modify(a, kQpAttrState | kQpAttrAv | kQpAttrPathMtu | kQpAttrDestQpn |
                              kQpAttrRqPsn | kQpAttrMaxDestRdAtomic | kQpAttrMinRnrTimer),
            0);
  a.qp_state = QpState::kRts;
  a.retry_cnt = 0;
  a.timeout = 5;
  ASSERT_EQ(qp->Modify(a, kQpAttrState | kQpAttrSqPsn | kQpAttrTimeout | kQpAttrRetryCnt |
                              kQpAttrRnrRetry | kQpAttrMaxQpRdAtomic),
            0);
  SendWr wr;
  wr.opcode = WrOpcode::kRdmaWrite;
  wr.send_flags = kSendSignaled;
  ASSERT_EQ(qp->PostSend(wr), 0);
  rt_.Run();
  EXPECT_EQ(dev_->unknown_qp_packets(), 1u);
  WorkCompletion wc;
  ASSERT_EQ(cq->Poll({&wc, 1}), 1);
  EXPECT_EQ(wc.status, WcStatus::kRetryExcErr) << "retry_cnt 0: the first timeout is fatal";
  qp.reset();
  cq.reset();
  opd.reset();
}

}  // namespace
}  // namespace s3rdma::emu
