// RC conformance, modelled on rdma-core's tests/test_qpex.py and test_mr.py: every operation
// (SEND/imm, WRITE/imm, READ, atomics, zero-length, SGEs, inline) and the bad flows (wrong
// rkey, out of bounds, missing access, wrong QP state, RNR) over the in-process fabric in
// virtual time.
#include <cerrno>
#include <cstring>

#include <gtest/gtest.h>

#include "tests/unit/emu/rc_test_util.h"

namespace s3rdma::emu {
namespace {

using testing::Fill;
using testing::PairOptions;
using testing::RcPair;

SendWr MakeWr(WrOpcode op, uint64_t id, std::span<const Sge> sges, uint32_t flags = kSendSignaled) {
  SendWr wr;
  wr.wr_id = id;
  wr.opcode = op;
  wr.send_flags = flags;
  wr.sg_list = sges;
  return wr;
}

TEST(RcConformance, SendRecvAcrossManyPacketsWithImmediate) {
  RcPair p;
  auto& a = p.a();
  auto& b = p.b();
  const uint32_t len = 5000;  // 5 packets at MTU 1024
  Fill(a.buf, 0, len, 1);
  Sge rs = b.sge(100, 8000);
  ASSERT_EQ(b.qp->PostRecv({7, {&rs, 1}}), 0);
  Sge ss = a.sge(0, len);
  SendWr wr = MakeWr(WrOpcode::kSendWithImm, 11, {&ss, 1});
  wr.imm_data = 0xdeadbeef;
  ASSERT_EQ(a.qp->PostSend(wr), 0);
  WorkCompletion rwc = p.WaitOne(*b.rcq);
  EXPECT_EQ(rwc.status, WcStatus::kSuccess) << WcStatusName(rwc.status);
  EXPECT_EQ(rwc.opcode, WcOpcode::kRecv);
  EXPECT_EQ(rwc.wr_id, 7u);
  EXPECT_EQ(rwc.byte_len, len);
  EXPECT_EQ(rwc.wc_flags & kWcWithImm, kWcWithImm);
  EXPECT_EQ(rwc.imm_data, 0xdeadbeefu);
  EXPECT_EQ(rwc.qp_num, b.qp->qp_num());
  EXPECT_EQ(rwc.src_qp, a.qp->qp_num());
  WorkCompletion swc = p.WaitOne(*a.scq);
  EXPECT_EQ(swc.status, WcStatus::kSuccess);
  EXPECT_EQ(swc.opcode, WcOpcode::kSend);
  EXPECT_EQ(swc.wr_id, 11u);
  EXPECT_EQ(std::memcmp(a.buf.data(), b.buf.data() + 100, len), 0);
  EXPECT_EQ(a.qp->stats().packets_sent, 5u);
}

TEST(RcConformance, WriteAndWriteWithImmediate) {
  RcPair p;
  auto& a = p.a();
  auto& b = p.b();
  Fill(a.buf, 0, 3000, 2);
  Sge ss = a.sge(0, 3000);
  SendWr wr = MakeWr(WrOpcode::kRdmaWrite, 1, {&ss, 1});
  wr.rdma.remote_addr = b.addr(10);
  wr.rdma.rkey = b.mr->rkey();
  ASSERT_EQ(a.qp->PostSend(wr), 0);
  WorkCompletion wc = p.WaitOne(*a.scq);
  EXPECT_EQ(wc.status, WcStatus::kSuccess);
  EXPECT_EQ(wc.opcode, WcOpcode::kRdmaWrite);
  EXPECT_EQ(std::memcmp(a.buf.data(), b.buf.data() + 10, 3000), 0);
  EXPECT_EQ(b.rcq->size(), 0u) << "a plain WRITE consumes no receive";

  ASSERT_EQ(b.qp->PostRecv({55, {}}), 0);
  Fill(a.buf, 0, 2048, 3);
  ss = a.sge(0, 2048);
  wr = MakeWr(WrOpcode::kRdmaWriteWithImm, 2, {&ss, 1});
  wr.imm_data = 42;
  wr.rdma.remote_addr = b.addr(20000);
  wr.rdma.rkey = b.mr->rkey();
  ASSERT_EQ(a.qp->PostSend(wr), 0);
  WorkCompletion rwc = p.WaitOne(*b.rcq);
  EXPECT_EQ(rwc.status, WcStatus::kSuccess);
  EXPECT_EQ(rwc.opcode, WcOpcode::kRecvRdmaWithImm);
  EXPECT_EQ(rwc.wr_id, 55u);
  EXPECT_EQ(rwc.imm_data, 42u);
  EXPECT_EQ(rwc.byte_len, 2048u);
  EXPECT_EQ(std::memcmp(a.buf.data(), b.buf.data() + 20000, 2048), 0);
  EXPECT_EQ(p.WaitOne(*a.scq).status, WcStatus::kSuccess);
}

TEST(RcConformance, ReadMultiPacket) {
  RcPair p;
  auto& a = p.a();
  auto& b = p.b();
  Fill(b.buf, 1000, 9999, 4);
  Sge ls = a.sge(5, 9999);
  SendWr wr = MakeWr(WrOpcode::kRdmaRead, 9, {&ls, 1});
  wr.rdma.remote_addr = b.addr(1000);
  wr.rdma.rkey = b.mr->rkey();
  ASSERT_EQ(a.qp->PostSend(wr), 0);
  WorkCompletion wc = p.WaitOne(*a.scq);
  EXPECT_EQ(wc.status, WcStatus::kSuccess) << WcStatusName(wc.status);
  EXPECT_EQ(wc.opcode, WcOpcode::kRdmaRead);
  EXPECT_EQ(wc.byte_len, 9999u);
  EXPECT_EQ(std::memcmp(a.buf.data() + 5, b.buf.data() + 1000, 9999), 0);
}

TEST(RcConformance, ZeroLengthOperations) {
  RcPair p;
  auto& a = p.a();
  auto& b = p.b();
  ASSERT_EQ(b.qp->PostRecv({1, {}}), 0);
  ASSERT_EQ(a.qp->PostSend(MakeWr(WrOpcode::kSend, 1, {})), 0);
  SendWr w = MakeWr(WrOpcode::kRdmaWrite, 2, {});
  w.rdma.rkey = 0x12345;  // not checked for zero-length operations
  ASSERT_EQ(a.qp->PostSend(w), 0);
  SendWr r = MakeWr(WrOpcode::kRdmaRead, 3, {});
  r.rdma.rkey = 0x12345;
  ASSERT_EQ(a.qp->PostSend(r), 0);
  ASSERT_TRUE(p.RunUntilCompletions(*a.scq, 3));
  auto wcs = p.Drain(*a.scq);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(wcs[i].status, WcStatus::kSuccess) << i;
    EXPECT_EQ(wcs[i].wr_id, i + 1);
    EXPECT_EQ(wcs[i].byte_len, 0u);
  }
  WorkCompletion rwc = p.WaitOne(*b.rcq);
  EXPECT_EQ(rwc.status, WcStatus::kSuccess);
  EXPECT_EQ(rwc.byte_len, 0u);
}

TEST(RcConformance, Atomics) {
  RcPair p;
  auto& a = p.a();
  auto& b = p.b();
  uint64_t v = 100;
  std::memcpy(b.buf.data() + 64, &v, 8);
  Sge ls = a.sge(0, 8);
  SendWr fa = MakeWr(WrOpcode::kAtomicFetchAndAdd, 1, {&ls, 1});
  fa.atomic.remote_addr = b.addr(64);
  fa.atomic.rkey = b.mr->rkey();
  fa.atomic.compare_add = 5;
  ASSERT_EQ(a.qp->PostSend(fa), 0);
  WorkCompletion wc = p.WaitOne(*a.scq);
  EXPECT_EQ(wc.status, WcStatus::kSuccess);
  EXPECT_EQ(wc.opcode, WcOpcode::kFetchAdd);
  uint64_t got;
  std::memcpy(&got, a.buf.data(), 8);
  EXPECT_EQ(got, 100u);
  std::memcpy(&got, b.buf.data() + 64, 8);
  EXPECT_EQ(got, 105u);

  // CAS that fails (compare 7 != 105), then one that succeeds.
  SendWr cas = MakeWr(WrOpcode::kAtomicCmpAndSwp, 2, {&ls, 1});
  cas.atomic.remote_addr = b.addr(64);
  cas.atomic.rkey = b.mr->rkey();
  cas.atomic.compare_add = 7;
  cas.atomic.swap = 1;
  ASSERT_EQ(a.qp->PostSend(cas), 0);
  cas.wr_id = 3;
  cas.atomic.compare_add = 105;
  cas.atomic.swap = 777;
  ASSERT_EQ(a.qp->PostSend(cas), 0);
  ASSERT_TRUE(p.RunUntilCompletions(*a.scq, 2));
  auto wcs = p.Drain(*a.scq);
  EXPECT_EQ(wcs[0].opcode, WcOpcode::kCompSwap);
  EXPECT_EQ(wcs[1].status, WcStatus::kSuccess);
  std::memcpy(&got, a.buf.data(), 8);
  EXPECT_EQ(got, 105u) << "CAS returns the original value";
  std::memcpy(&got, b.buf.data() + 64, 8);
  EXPECT_EQ(got, 777u);

  // Misaligned atomic -> invalid request NAK.
  fa.wr_id = 4;
  fa.atomic.remote_addr = b.addr(65);
  ASSERT_EQ(a.qp->PostSend(fa), 0);
  EXPECT_EQ(p.WaitOne(*a.scq).status, WcStatus::kRemInvReqErr);
}

TEST(RcConformance, ScatterGatherLists) {
  PairOptions o;
  o.mtu = Mtu::k256;
  RcPair p(o);
  auto& a = p.a();
  auto& b = p.b();
  Fill(a.buf, 0, 4096, 5);
  Sge ss[3] = {a.sge(0, 100), a.sge(1000, 300), a.sge(3000, 1)};
  Sge rs[4] = {b.sge(0, 50), b.sge(500, 1), b.sge(600, 200), b.sge(4000, 500)};
  ASSERT_EQ(b.qp->PostRecv({1, {rs, 4}}), 0);
  ASSERT_EQ(a.qp->PostSend(MakeWr(WrOpcode::kSend, 1, {ss, 3})), 0);
  WorkCompletion rwc = p.WaitOne(*b.rcq);
  ASSERT_EQ(rwc.status, WcStatus::kSuccess);
  EXPECT_EQ(rwc.byte_len, 401u);
  std::vector<uint8_t> sent, got;
  for (const Sge& s : ss) sent.insert(sent.end(), a.buf.begin() + (s.addr - a.addr()), a.buf.begin() + (s.addr - a.addr()) + s.length);
  size_t left = 401;
  for (const Sge& s : rs) {
    size_t take = std::min<size_t>(left, s.length);
    got.insert(got.end(), b.buf.begin() + (s.addr - b.addr()), b.buf.begin() + (s.addr - b.addr()) + take);
    left -= take;
  }
  EXPECT_EQ(sent, got);
  // A READ scattered over two local SGEs.
  Fill(b.buf, 8000, 700, 6);
  Sge ls[2] = {a.sge(10000, 300), a.sge(20000, 400)};
  SendWr r = MakeWr(WrOpcode::kRdmaRead, 2, {ls, 2});
  r.rdma.remote_addr = b.addr(8000);
  r.rdma.rkey = b.mr->rkey();
  ASSERT_EQ(a.qp->PostSend(r), 0);
  ASSERT_TRUE(p.RunUntilCompletions(*a.scq, 2));
  auto wcs = p.Drain(*a.scq);
  EXPECT_EQ(wcs[1].status, WcStatus::kSuccess);
  EXPECT_EQ(std::memcmp(a.buf.data() + 10000, b.buf.data() + 8000, 300), 0);
  EXPECT_EQ(std::memcmp(a.buf.data() + 20000, b.buf.data() + 8300, 400), 0);
}

TEST(RcConformance, InlineSendNeedsNoRegistration) {
  RcPair p;
  auto& b = p.b();
  char msg[] = "inline hello";
  Sge ss{reinterpret_cast<uint64_t>(msg), sizeof(msg), 0 /* no lkey needed */};
  Sge rs = b.sge(0, 64);
  ASSERT_EQ(b.qp->PostRecv({1, {&rs, 1}}), 0);
  ASSERT_EQ(p.a().qp->PostSend(MakeWr(WrOpcode::kSend, 1, {&ss, 1}, kSendSignaled | kSendInline)), 0);
  std::memset(msg, 'x', sizeof(msg) - 1);  // copied at post time
  WorkCompletion rwc = p.WaitOne(*b.rcq);
  ASSERT_EQ(rwc.status, WcStatus::kSuccess);
  EXPECT_STREQ(reinterpret_cast<const char*>(b.buf.data()), "inline hello");
  // Longer than max_inline_data (64 by default) is refused at post time.
  std::vector<uint8_t> big(65);
  Sge bs{reinterpret_cast<uint64_t>(big.data()), 65, 0};
  EXPECT_EQ(p.a().qp->PostSend(MakeWr(WrOpcode::kSend, 2, {&bs, 1}, kSendInline)), EINVAL);
}

TEST(RcConformance, UnsignaledWorkRequestsCompleteSilently) {
  RcPair p;
  auto& a = p.a();
  auto& b = p.b();
  Sge ss = a.sge(0, 16);
  for (int i = 0; i < 10; ++i) {
    SendWr wr = MakeWr(WrOpcode::kRdmaWrite, i, {&ss, 1}, i == 9 ? kSendSignaled : 0);
    wr.rdma.remote_addr = b.addr(0);
    wr.rdma.rkey = b.mr->rkey();
    ASSERT_EQ(a.qp->PostSend(wr), 0);
  }
  ASSERT_TRUE(p.RunUntilCompletions(*a.scq, 1));
  p.rt().Run();
  auto wcs = p.Drain(*a.scq);
  ASSERT_EQ(wcs.size(), 1u);
  EXPECT_EQ(wcs[0].wr_id, 9u);
}

TEST(RcConformance, SendQueueFullIsEnomem) {
  PairOptions o;
  o.cap.max_send_wr = 4;
  RcPair p(o);
  Sge ss = p.a().sge(0, 8);
  SendWr wr = MakeWr(WrOpcode::kRdmaWrite, 0, {&ss, 1});
  wr.rdma.remote_addr = p.b().addr(0);
  wr.rdma.rkey = p.b().mr->rkey();
  for (int i = 0; i < 4; ++i) ASSERT_EQ(p.a().qp->PostSend(wr), 0);
  EXPECT_EQ(p.a().qp->PostSend(wr), ENOMEM);
  ASSERT_TRUE(p.RunUntilCompletions(*p.a().scq, 4));
  EXPECT_EQ(p.a().qp->PostSend(wr), 0) << "completed WQEs free their slots";
}

// ---- bad flows ------------------------------------------------------------------------------

class RemoteAccessTest : public ::testing::TestWithParam<int> {};

TEST_P(RemoteAccessTest, BadRemoteAccessIsRemAccessErrThenFlush) {
  PairOptions o;
  if (GetParam() == 2) o.mr_access = kAccessLocalWrite | kAccessRemoteRead;  // no remote write
  RcPair p(o);
  auto& a = p.a();
  auto& b = p.b();
  Sge ss = a.sge(0, 100);
  SendWr wr = MakeWr(WrOpcode::kRdmaWrite, 1, {&ss, 1});
  wr.rdma.remote_addr = b.addr(0);
  wr.rdma.rkey = b.mr->rkey();
  if (GetParam() == 0) wr.rdma.rkey ^= 0x100;                        // wrong rkey
  if (GetParam() == 1) wr.rdma.remote_addr = b.addr(b.buf.size() - 50);  // out of bounds
  ASSERT_EQ(a.qp->PostSend(wr), 0);
  wr.wr_id = 2;
  wr.rdma.remote_addr = b.addr(0);
  wr.rdma.rkey = b.mr->rkey();
  ASSERT_EQ(a.qp->PostSend(wr), 0);
  ASSERT_TRUE(p.RunUntilCompletions(*a.scq, 2));
  auto wcs = p.Drain(*a.scq);
  EXPECT_EQ(wcs[0].wr_id, 1u);
  EXPECT_EQ(wcs[0].status, WcStatus::kRemAccessErr) << WcStatusName(wcs[0].status);
  EXPECT_EQ(wcs[1].wr_id, 2u);
  EXPECT_EQ(wcs[1].status, WcStatus::kWrFlushErr);
  EXPECT_EQ(a.qp->state(), QpState::kErr);
  EXPECT_EQ(b.qp->state(), QpState::kErr) << "the responder goes to ERR too, like rxe";
  // Work posted in ERR is flushed.
  wr.wr_id = 3;
  ASSERT_EQ(a.qp->PostSend(wr), 0);
  WorkCompletion f = p.WaitOne(*a.scq);
  EXPECT_EQ(f.wr_id, 3u);
  EXPECT_EQ(f.status, WcStatus::kWrFlushErr);
}

INSTANTIATE_TEST_SUITE_P(WrongRkeyOutOfBoundsMissingAccess, RemoteAccessTest,
                         ::testing::Values(0, 1, 2));

TEST(RcConformance, ReadWithoutRemoteReadAccessOnMr) {
  PairOptions o;
  o.mr_access = kAccessLocalWrite | kAccessRemoteWrite;
  RcPair p(o);
  Sge ls = p.a().sge(0, 10);
  SendWr r = MakeWr(WrOpcode::kRdmaRead, 1, {&ls, 1});
  r.rdma.remote_addr = p.b().addr(0);
  r.rdma.rkey = p.b().mr->rkey();
  ASSERT_EQ(p.a().qp->PostSend(r), 0);
  EXPECT_EQ(p.WaitOne(*p.a().scq).status, WcStatus::kRemAccessErr);
}

TEST(RcConformance, QpWithoutRemoteWriteAccessIsInvalidRequest) {
  PairOptions o;
  o.qp_access = kAccessRemoteRead;
  RcPair p(o);
  Sge ss = p.a().sge(0, 10);
  SendWr wr = MakeWr(WrOpcode::kRdmaWrite, 1, {&ss, 1});
  wr.rdma.remote_addr = p.b().addr(0);
  wr.rdma.rkey = p.b().mr->rkey();
  ASSERT_EQ(p.a().qp->PostSend(wr), 0);
  EXPECT_EQ(p.WaitOne(*p.a().scq).status, WcStatus::kRemInvReqErr);
}

TEST(RcConformance, LocalProtectionError) {
  RcPair p;
  Sge bad{p.a().addr(0), 100, p.a().mr->lkey() + 1};
  SendWr wr = MakeWr(WrOpcode::kRdmaWrite, 1, {&bad, 1});
  wr.rdma.remote_addr = p.b().addr(0);
  wr.rdma.rkey = p.b().mr->rkey();
  ASSERT_EQ(p.a().qp->PostSend(wr), 0);
  WorkCompletion wc = p.WaitOne(*p.a().scq);
  EXPECT_EQ(wc.status, WcStatus::kLocProtErr);
  EXPECT_EQ(p.a().qp->state(), QpState::kErr);
  EXPECT_EQ(p.a().qp->stats().packets_sent, 0u) << "nothing goes on the wire";
}

TEST(RcConformance, ReceiveBufferTooSmallIsLocLenErrAndRemInvReq) {
  RcPair p;
  Sge rs = p.b().sge(0, 10);
  ASSERT_EQ(p.b().qp->PostRecv({1, {&rs, 1}}), 0);
  Sge ss = p.a().sge(0, 11);
  ASSERT_EQ(p.a().qp->PostSend(MakeWr(WrOpcode::kSend, 1, {&ss, 1})), 0);
  EXPECT_EQ(p.WaitOne(*p.b().rcq).status, WcStatus::kLocLenErr);
  EXPECT_EQ(p.WaitOne(*p.a().scq).status, WcStatus::kRemInvReqErr);
}

TEST(RcConformance, PostingInTheWrongState) {
  core::VirtualRuntime rt;
  InProcFabric fabric(rt);
  auto dev = std::move(Device::Open(fabric, {Ipv4(10, 0, 0, 9), kRoceUdpPort})).value();
  auto pd = std::move(dev->AllocPd()).value();
  auto cq = std::move(dev->CreateCq(16)).value();
  QpInitAttr init;
  init.send_cq = cq.get();
  init.recv_cq = cq.get();
  auto qp = std::move(pd->CreateQp(init)).value();
  SendWr wr;
  RecvWr rr;
  EXPECT_EQ(qp->state(), QpState::kReset);
  EXPECT_EQ(qp->PostSend(wr), EINVAL);
  EXPECT_EQ(qp->PostRecv(rr), EINVAL);
  QpAttr a;
  a.qp_state = QpState::kRts;
  EXPECT_EQ(qp->Modify(a, kQpAttrState), EINVAL) << "RESET -> RTS is illegal";
  a.qp_state = QpState::kInit;
  EXPECT_EQ(qp->Modify(a, kQpAttrState), EINVAL) << "INIT needs access flags";
  EXPECT_EQ(qp->Modify(a, kQpAttrState | kQpAttrAccessFlags), 0);
  EXPECT_EQ(qp->PostSend(wr), EINVAL);
  EXPECT_EQ(qp->PostRecv(rr), 0) << "receives may be posted from INIT";
  a.qp_state = QpState::kRtr;
  a.dest_gid = GidFromIpv4(Ipv4(10, 0, 0, 8));
  a.dest_qp_num = 17;
  EXPECT_EQ(qp->Modify(a, kQpAttrState | kQpAttrAv), EINVAL) << "RTR needs more attributes";
  a.path_mtu = static_cast<Mtu>(6);
  uint32_t rtr = kQpAttrState | kQpAttrAv | kQpAttrPathMtu | kQpAttrDestQpn | kQpAttrRqPsn |
                 kQpAttrMaxDestRdAtomic | kQpAttrMinRnrTimer;
  EXPECT_EQ(qp->Modify(a, rtr), EINVAL) << "bad MTU";
  a.path_mtu = Mtu::k4096;
  EXPECT_EQ(qp->Modify(a, rtr), 0);
  EXPECT_EQ(qp->PostSend(wr), EINVAL) << "RTR cannot send";
  a.qp_state = QpState::kRts;
  a.retry_cnt = 8;
  uint32_t rts = kQpAttrState | kQpAttrSqPsn | kQpAttrTimeout | kQpAttrRetryCnt |
                 kQpAttrRnrRetry | kQpAttrMaxQpRdAtomic;
  EXPECT_EQ(qp->Modify(a, rts), EINVAL) << "retry_cnt is 3 bits";
  a.retry_cnt = 7;
  EXPECT_EQ(qp->Modify(a, rts), 0);
  EXPECT_EQ(qp->state(), QpState::kRts);
  // ERR flushes the posted receive.
  a.qp_state = QpState::kErr;
  EXPECT_EQ(qp->Modify(a, kQpAttrState), 0);
  WorkCompletion wc;
  ASSERT_EQ(cq->Poll({&wc, 1}), 1);
  EXPECT_EQ(wc.status, WcStatus::kWrFlushErr);
  EXPECT_EQ(wc.opcode, WcOpcode::kRecv);
  a.qp_state = QpState::kReset;
  EXPECT_EQ(qp->Modify(a, kQpAttrState), 0);
  EXPECT_EQ(qp->state(), QpState::kReset);
  qp.reset();
  cq.reset();
  pd.reset();
}

TEST(RcConformance, RnrThenSuccessOncePosted) {
  PairOptions o;
  o.min_rnr_timer = 2;  // 20 us
  RcPair p(o);
  Sge ss = p.a().sge(0, 100);
  ASSERT_EQ(p.a().qp->PostSend(MakeWr(WrOpcode::kSend, 1, {&ss, 1})), 0);
  p.rt().RunUntil(p.rt().Now() + core::Duration::Microseconds(200));
  EXPECT_GE(p.b().qp->stats().rnr_naks_sent, 2u);
  EXPECT_EQ(p.a().scq->size(), 0u);
  Sge rs = p.b().sge(0, 100);
  ASSERT_EQ(p.b().qp->PostRecv({1, {&rs, 1}}), 0);
  EXPECT_EQ(p.WaitOne(*p.a().scq).status, WcStatus::kSuccess);
  EXPECT_EQ(p.WaitOne(*p.b().rcq).status, WcStatus::kSuccess);
}

TEST(RcConformance, RnrOnTheLastPacketOfWriteWithImmediate) {
  // A multi-packet WRITE_WITH_IMM needs a receive only for its last packet: the first ones
  // are placed, the last is RNR-NAKed and resent alone once a receive is posted.
  PairOptions o;
  o.min_rnr_timer = 2;
  RcPair p(o);
  Fill(p.a().buf, 0, 3000, 8);
  Sge ss = p.a().sge(0, 3000);
  SendWr wr = MakeWr(WrOpcode::kRdmaWriteWithImm, 1, {&ss, 1});
  wr.imm_data = 99;
  wr.rdma.remote_addr = p.b().addr(100);
  wr.rdma.rkey = p.b().mr->rkey();
  ASSERT_EQ(p.a().qp->PostSend(wr), 0);
  p.rt().RunUntil(p.rt().Now() + core::Duration::Microseconds(100));
  EXPECT_GE(p.b().qp->stats().rnr_naks_sent, 1u);
  ASSERT_EQ(p.b().qp->PostRecv({5, {}}), 0);
  WorkCompletion rwc = p.WaitOne(*p.b().rcq);
  EXPECT_EQ(rwc.status, WcStatus::kSuccess);
  EXPECT_EQ(rwc.opcode, WcOpcode::kRecvRdmaWithImm);
  EXPECT_EQ(rwc.byte_len, 3000u);
  EXPECT_EQ(rwc.imm_data, 99u);
  EXPECT_EQ(p.WaitOne(*p.a().scq).status, WcStatus::kSuccess);
  EXPECT_EQ(std::memcmp(p.a().buf.data(), p.b().buf.data() + 100, 3000), 0);
  EXPECT_EQ(p.a().qp->stats().packets_sent - p.a().qp->stats().retransmitted_packets, 3u);
}

TEST(RcConformance, FenceWaitsForEarlierReads) {
  RcPair p;
  Fill(p.b().buf, 0, 8000, 9);
  Sge ls = p.a().sge(0, 8000);
  SendWr r = MakeWr(WrOpcode::kRdmaRead, 1, {&ls, 1});
  r.rdma.remote_addr = p.b().addr(0);
  r.rdma.rkey = p.b().mr->rkey();
  ASSERT_EQ(p.a().qp->PostSend(r), 0);
  // A fenced WRITE of what the READ brings in: it must not start before the READ is done.
  Sge ws = p.a().sge(0, 8000);
  SendWr w = MakeWr(WrOpcode::kRdmaWrite, 2, {&ws, 1}, kSendSignaled | kSendFence);
  w.rdma.remote_addr = p.b().addr(20000);
  w.rdma.rkey = p.b().mr->rkey();
  ASSERT_EQ(p.a().qp->PostSend(w), 0);
  ASSERT_TRUE(p.RunUntilCompletions(*p.a().scq, 2));
  for (const auto& wc : p.Drain(*p.a().scq)) EXPECT_EQ(wc.status, WcStatus::kSuccess);
  // Had the WRITE gone out before the READ's data arrived, it would have sent zeros.
  EXPECT_EQ(std::memcmp(p.b().buf.data(), p.b().buf.data() + 20000, 8000), 0);
}

TEST(RcConformance, RnrRetryExceeded) {
  PairOptions o;
  o.rnr_retry = 2;
  RcPair p(o);
  Sge ss = p.a().sge(0, 100);
  ASSERT_EQ(p.a().qp->PostSend(MakeWr(WrOpcode::kSend, 1, {&ss, 1})), 0);
  ASSERT_EQ(p.a().qp->PostSend(MakeWr(WrOpcode::kSend, 2, {&ss, 1})), 0);
  ASSERT_TRUE(p.RunUntilCompletions(*p.a().scq, 2));
  auto wcs = p.Drain(*p.a().scq);
  EXPECT_EQ(wcs[0].status, WcStatus::kRnrRetryExcErr);
  EXPECT_EQ(wcs[1].status, WcStatus::kWrFlushErr);
  EXPECT_EQ(p.b().qp->stats().rnr_naks_sent, 3u) << "first try + 2 retries";
}

TEST(RcConformance, RetryExceededWhenThePeerIsGone) {
  PairOptions o;
  o.retry_cnt = 3;
  o.timeout = 8;  // ~1 ms
  RcPair p(o);
  FaultConfig f;
  f.drop_probability = 1.0;
  p.fabric().SetFaults(f);
  Sge ss = p.a().sge(0, 100);
  SendWr wr = MakeWr(WrOpcode::kRdmaWrite, 1, {&ss, 1});
  wr.rdma.remote_addr = p.b().addr(0);
  wr.rdma.rkey = p.b().mr->rkey();
  ASSERT_EQ(p.a().qp->PostSend(wr), 0);
  core::Time t0 = p.rt().Now();
  WorkCompletion wc = p.WaitOne(*p.a().scq);
  EXPECT_EQ(wc.status, WcStatus::kRetryExcErr);
  EXPECT_EQ(p.a().qp->stats().timeouts, 4u);
  // 4 timeouts of 4.096 us * 2^8 each.
  EXPECT_GE(p.rt().Now() - t0, AckTimeout(8) * 4);
  EXPECT_LT(p.rt().Now() - t0, AckTimeout(8) * 5);
}

TEST(RcConformance, ManyReadsRespectCreditsAndComplete) {
  PairOptions o;
  o.max_rd_atomic = 2;
  RcPair p(o);
  Fill(p.b().buf, 0, 32 * 1000, 9);
  for (int i = 0; i < 32; ++i) {
    Sge ls = p.a().sge(i * 1000, 1000);
    SendWr r = MakeWr(WrOpcode::kRdmaRead, i, {&ls, 1});
    r.rdma.remote_addr = p.b().addr(i * 1000);
    r.rdma.rkey = p.b().mr->rkey();
    ASSERT_EQ(p.a().qp->PostSend(r), 0);
  }
  ASSERT_TRUE(p.RunUntilCompletions(*p.a().scq, 32));
  auto wcs = p.Drain(*p.a().scq);
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(wcs[i].wr_id, uint64_t(i));
    EXPECT_EQ(wcs[i].status, WcStatus::kSuccess);
  }
  EXPECT_EQ(std::memcmp(p.a().buf.data(), p.b().buf.data(), 32000), 0);
}

TEST(RcConformance, CompletionHandlerRunsOnTheRuntime) {
  RcPair p;
  int calls = 0;
  p.a().scq->SetCompletionHandler([&] { ++calls; });
  p.a().scq->RequestNotify();
  Sge ss = p.a().sge(0, 8);
  SendWr wr = MakeWr(WrOpcode::kRdmaWrite, 1, {&ss, 1});
  wr.rdma.remote_addr = p.b().addr(0);
  wr.rdma.rkey = p.b().mr->rkey();
  ASSERT_EQ(p.a().qp->PostSend(wr), 0);
  ASSERT_EQ(p.a().qp->PostSend(wr), 0);
  p.rt().Run();
  EXPECT_EQ(calls, 1) << "one notification per RequestNotify";
  EXPECT_EQ(p.a().scq->size(), 2u);
}

}  // namespace
}  // namespace s3rdma::emu
