// Hostile traffic at the RC engine: random requests and responses that pass the codec
// (valid opcodes and header layouts) but carry arbitrary PSNs, rkeys, addresses, lengths,
// payload sizes and AETH syndromes, delivered to both ends of a connection while it runs
// real traffic. The engine must never crash, touch memory outside registered regions (ASan
// checks that), or hang: every posted WR still completes, successfully or with an error.
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "core/rng.h"
#include "tests/unit/emu/rc_test_util.h"

namespace s3rdma::emu {
namespace {

using testing::PairOptions;
using testing::RcPair;

RocePacket RandomPacket(core::Rng& rng, const testing::Node& target, const testing::Node& from,
                        uint32_t psn_hint) {
  static const uint8_t kOps[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                                 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11,
                                 0x12, 0x13, 0x14, 0x16, 0x17};
  RocePacket p;
  p.bth.opcode = kOps[rng.Below(sizeof kOps)];
  p.bth.dest_qp = rng.Bernoulli(0.9) ? target.qp->qp_num() : static_cast<uint32_t>(rng.Below(64));
  p.bth.psn = (psn_hint + static_cast<uint32_t>(rng.Uniform(-40, 40))) & kPsnMask;
  if (rng.Bernoulli(0.05)) p.bth.psn = static_cast<uint32_t>(rng.Below(1u << 24));
  p.bth.ack_request = rng.Bernoulli(0.5);
  p.address.src_ip = from.dev->address().ipv4;
  const uint64_t base = target.addr();
  const uint64_t len = target.buf.size();
  auto addr = [&] {
    switch (rng.Below(4)) {
      case 0: return base + rng.Below(len);
      case 1: return base + len - rng.Below(16);
      case 2: return base - rng.Below(4096);
      default: return rng.NextU64();
    }
  };
  auto rkey = [&] { return rng.Bernoulli(0.7) ? target.mr->rkey() : static_cast<uint32_t>(rng.NextU64()); };
  p.reth = Reth{addr(), rkey(), static_cast<uint32_t>(rng.Bernoulli(0.5) ? rng.Below(9000) : rng.NextU64())};
  p.atomic_eth = AtomicEth{addr() & ~uint64_t{rng.Bernoulli(0.8) ? 7u : 0u}, rkey(), rng.NextU64(), rng.NextU64()};
  p.aeth = Aeth{static_cast<uint8_t>(rng.Below(128)), static_cast<uint32_t>(rng.Below(1u << 24))};
  p.atomic_ack.original_data = rng.NextU64();
  p.immediate = static_cast<uint32_t>(rng.NextU64());
  if (p.info().has_payload) {
    size_t n = rng.Bernoulli(0.5) ? rng.Below(300) : rng.Below(4097);
    std::vector<uint8_t> bytes(n, static_cast<uint8_t>(rng.NextU64()));
    p.payload = Payload::CopyOf(bytes);
  }
  return p;
}

TEST(RcRobustness, RandomPacketsNeverCrashOrHang) {
  int errored = 0;
  uint64_t duplicates = 0;
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    PairOptions o;
    o.mtu = Mtu::k256;
    o.timeout = 6;
    o.retry_cnt = 2;
    o.rnr_retry = 2;
    o.buf_bytes = 16384;
    RcPair p(o);
    auto& a = p.a();
    auto& b = p.b();
    // Each buffer is exactly its registered region (a heap block of that size), so any
    // access outside it is a heap overflow that ASan reports.
    core::Rng rng(seed);
    for (int i = 0; i < 8; ++i) {
      Sge rs = b.sge(i * 1024, 1024);
      ASSERT_EQ(b.qp->PostRecv({uint64_t(i), {&rs, 1}}), 0);
    }
    int posted = 0;
    for (int i = 0; i < 8; ++i) {
      Sge s = a.sge(i * 512, 500);
      SendWr wr;
      wr.wr_id = i;
      wr.send_flags = kSendSignaled;
      wr.sg_list = {&s, 1};
      wr.opcode = i % 2 ? WrOpcode::kSend : WrOpcode::kRdmaWrite;
      wr.rdma.remote_addr = b.addr(8192 + i * 512);
      wr.rdma.rkey = b.mr->rkey();
      ASSERT_EQ(a.qp->PostSend(wr), 0);
      ++posted;
    }
    for (int i = 0; i < 3000; ++i) {
      bool to_b = rng.Bernoulli(0.5);
      testing::Node& target = to_b ? b : a;
      testing::Node& from = to_b ? a : b;
      // Near the PSN each responder expects, so some random requests are executed.
      uint32_t hint = (to_b ? o.a_psn : o.b_psn) + static_cast<uint32_t>(i / 300);
      target.dev->DeliverForTesting(RandomPacket(rng, target, from, hint));
      if (i % 10 == 0) p.rt().RunEvents(20);
    }
    // Everything posted completes one way or another, in bounded virtual time.
    EXPECT_TRUE(p.RunUntilCompletions(*a.scq, posted, core::Duration::Seconds(60)))
        << "state " << QpStateName(a.qp->state());
    p.rt().RunUntil(p.rt().Now() + core::Duration::Seconds(1));
    EXPECT_EQ(a.scq->overflows(), 0u);
    errored += a.qp->state() == QpState::kErr || b.qp->state() == QpState::kErr;
    duplicates += a.qp->stats().duplicates_received + b.qp->stats().duplicates_received;
  }
  // The garbage did reach the engines' state machines (not only the PSN filter).
  EXPECT_GT(errored, 0);
  EXPECT_GT(duplicates, 0u);
  std::printf("[ robust   ] %d of 30 connections ended in ERR, %llu duplicates handled\n", errored,
              static_cast<unsigned long long>(duplicates));
}

}  // namespace
}  // namespace s3rdma::emu
