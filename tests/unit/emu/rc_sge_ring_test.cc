// The send queue keeps each WQE's scatter/gather list in per-QP storage indexed by ring
// position (sized by the QP's max_send_sge). These tests post multi-SGE WRITEs and READs so
// the ring wraps and grows while WQEs are outstanding, and check every byte lands where its
// own SGE list said: a list moved to the wrong position would gather or scatter the wrong
// bytes.
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/emu/rc_test_util.h"

namespace s3rdma::emu {
namespace {

using testing::Fill;
using testing::PairOptions;
using testing::RcPair;

constexpr uint32_t kSges = 3;
constexpr uint32_t kPiece = 40;  // bytes per SGE

// WRITE i gathers kSges pieces of A's buffer, spread apart, into one contiguous range of B.
SendWr Write(RcPair& p, uint64_t i, Sge* sges) {
  for (uint32_t s = 0; s < kSges; ++s) {
    sges[s] = p.a().sge(i * 512 + s * 128 + s, kPiece);
  }
  SendWr wr;
  wr.wr_id = i;
  wr.opcode = WrOpcode::kRdmaWrite;
  wr.send_flags = kSendSignaled;
  wr.sg_list = {sges, kSges};
  wr.rdma.remote_addr = p.b().addr(40000 + i * kSges * kPiece);
  wr.rdma.rkey = p.b().mr->rkey();
  return wr;
}

void ExpectWritten(RcPair& p, uint64_t i) {
  for (uint32_t s = 0; s < kSges; ++s) {
    EXPECT_EQ(std::memcmp(p.b().buf.data() + 40000 + (i * kSges + s) * kPiece,
                          p.a().buf.data() + i * 512 + s * 128 + s, kPiece),
              0)
        << "WRITE " << i << " SGE " << s;
  }
}

TEST(RcSgeRing, MultiSgeWritesAcrossWrapAndGrowth) {
  PairOptions o;
  o.buf_bytes = 1 << 16;
  o.cap.max_send_sge = kSges;
  o.cap.max_send_wr = 64;
  RcPair p(o);
  Fill(p.a().buf, 0, 40000, 11);
  std::vector<Sge> storage(45 * kSges);  // the caller's lists stay valid: the QP copies them
  auto sges_of = [&](uint64_t i) { return &storage[i * kSges]; };
  // 5 complete: the ring (8 WQEs) now starts at position 5.
  for (uint64_t i = 0; i < 5; ++i) ASSERT_EQ(p.a().qp->PostSend(Write(p, i, sges_of(i))), 0);
  ASSERT_TRUE(p.RunUntilCompletions(*p.a().scq, 5));
  for (const auto& wc : p.Drain(*p.a().scq)) EXPECT_EQ(wc.status, WcStatus::kSuccess);
  // 40 more without running: posting wraps past the end of the 8-entry ring, then grows it
  // to 16, 32 and 64 while every earlier WQE is still outstanding.
  for (uint64_t i = 5; i < 45; ++i) ASSERT_EQ(p.a().qp->PostSend(Write(p, i, sges_of(i))), 0);
  ASSERT_TRUE(p.RunUntilCompletions(*p.a().scq, 40));
  auto wcs = p.Drain(*p.a().scq);
  ASSERT_EQ(wcs.size(), 40u);
  for (size_t k = 0; k < wcs.size(); ++k) {
    EXPECT_EQ(wcs[k].status, WcStatus::kSuccess);
    EXPECT_EQ(wcs[k].wr_id, 5 + k);
  }
  for (uint64_t i = 0; i < 45; ++i) ExpectWritten(p, i);
}

TEST(RcSgeRing, MultiSgeReadsScatterIntoTheirOwnLists) {
  PairOptions o;
  o.cap.max_send_sge = 2;
  o.cap.max_send_wr = 32;
  o.mtu = Mtu::k256;
  RcPair p(o);
  Fill(p.b().buf, 0, 30000, 12);
  std::vector<Sge> storage(40);
  for (uint64_t i = 0; i < 20; ++i) {
    // READ i: 600 bytes of B at i*1000 into two pieces of A (350 + 250 bytes).
    Sge* s = &storage[i * 2];
    s[0] = p.a().sge(i * 1024, 350);
    s[1] = p.a().sge(32768 + i * 1024, 250);
    SendWr wr;
    wr.wr_id = 100 + i;
    wr.opcode = WrOpcode::kRdmaRead;
    wr.send_flags = kSendSignaled;
    wr.sg_list = {s, 2};
    wr.rdma.remote_addr = p.b().addr(i * 1000);
    wr.rdma.rkey = p.b().mr->rkey();
    ASSERT_EQ(p.a().qp->PostSend(wr), 0);
  }
  ASSERT_TRUE(p.RunUntilCompletions(*p.a().scq, 20));
  for (const auto& wc : p.Drain(*p.a().scq)) EXPECT_EQ(wc.status, WcStatus::kSuccess);
  for (uint64_t i = 0; i < 20; ++i) {
    EXPECT_EQ(std::memcmp(p.a().buf.data() + i * 1024, p.b().buf.data() + i * 1000, 350), 0)
        << "READ " << i;
    EXPECT_EQ(std::memcmp(p.a().buf.data() + 32768 + i * 1024, p.b().buf.data() + i * 1000 + 350,
                          250),
              0)
        << "READ " << i;
  }
}

// More SGEs than the QP's cap is refused, as ibverbs does (the storage is sized by the cap).
TEST(RcSgeRing, MoreSgesThanTheCapIsEinval) {
  PairOptions o;
  o.cap.max_send_sge = 1;
  RcPair p(o);
  Sge two[2] = {p.a().sge(0, 8), p.a().sge(64, 8)};
  SendWr wr;
  wr.opcode = WrOpcode::kRdmaWrite;
  wr.sg_list = {two, 2};
  wr.rdma.remote_addr = p.b().addr(0);
  wr.rdma.rkey = p.b().mr->rkey();
  EXPECT_EQ(p.a().qp->PostSend(wr), EINVAL);
  wr.sg_list = {two, 1};
  wr.send_flags = kSendSignaled;
  EXPECT_EQ(p.a().qp->PostSend(wr), 0);
  ASSERT_TRUE(p.RunUntilCompletions(*p.a().scq, 1));
  EXPECT_EQ(p.Drain(*p.a().scq)[0].status, WcStatus::kSuccess);
}

}  // namespace
}  // namespace s3rdma::emu
