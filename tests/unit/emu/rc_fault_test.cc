// RC reliability under injected faults, over thousands of seeds in virtual time.
//
// Every seed runs a mixed workload (SEND, WRITE, READ, FETCH_AND_ADD of short multi-packet
// messages) over a lossy / reordering / duplicating / corrupting in-process fabric, then
// checks the RC contract: every operation that completed successfully took effect intact,
// exactly once and in order (the fetch-and-add results form the exact prefix sums), the
// receiver got each SEND once, in order, with its bytes; and if the QP failed, it failed
// with RETRY_EXC_ERR followed only by flushes. A failure prints the seed that reproduces it.
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "core/rng.h"
#include "tests/unit/emu/rc_test_util.h"

namespace s3rdma::emu {
namespace {

using testing::Fill;
using testing::PairOptions;
using testing::RcPair;

constexpr int kOps = 24;

struct Outcome {
  bool all_ok = false;
  bool failed_retry_exceeded = false;
};

struct Op {
  WrOpcode opcode;
  uint32_t len;
};

// Buffer layout, per op i with `slot` bytes each: A sends/writes from [i*slot, +len) and
// reads into [i*slot + slot/2, +len) from the same place in B; B receives SEND i into
// recv_base + i*slot; fetch-and-add results land in A at fa_base + 8i; B's counter is at
// counter_off.
Outcome RunSeed(uint64_t seed, const FaultConfig& faults, const std::string& label,
                uint32_t max_len, bool small_window) {
  SCOPED_TRACE("config=" + label + " seed=" + std::to_string(seed));
  const uint32_t kSlot = std::max<uint32_t>(1024, 2 * max_len);
  const size_t recv_base = size_t(kOps) * kSlot;
  const size_t fa_base = size_t(kOps) * kSlot;
  const size_t kCounterOffset = 2 * size_t(kOps) * kSlot;
  PairOptions o;
  o.buf_bytes = kCounterOffset + 4096;
  if (small_window) {
    // Long messages through a narrow window with frequent ACK requests: partial ACKs,
    // window stalls and mid-message go-back-N.
    o.dev.max_unacked_psns = 8;
    o.dev.packets_per_ack_req = 3;
  }
  o.fabric.seed = seed;
  o.fabric.faults = faults;
  o.fabric.latency = core::Duration::Microseconds(2);
  o.mtu = Mtu::k256;
  o.timeout = 6;  // 262 us
  o.retry_cnt = 7;
  o.cq_size = 256;
  core::Rng rng(seed);
  o.a_psn = static_cast<uint32_t>(rng.Below(1u << 24));
  o.b_psn = static_cast<uint32_t>(rng.Below(1u << 24));
  RcPair p(o);
  auto& a = p.a();
  auto& b = p.b();

  std::vector<Op> ops(kOps);
  Fill(a.buf, 0, size_t(kOps) * kSlot, seed);
  Fill(b.buf, 0, size_t(kOps) * kSlot, seed + 1);
  std::vector<uint8_t> a0 = a.buf, b0 = b.buf;
  uint64_t counter0 = rng.NextU64() >> 8;
  std::memcpy(b.buf.data() + kCounterOffset, &counter0, 8);
  int nsend = 0;
  for (int i = 0; i < kOps; ++i) {
    Sge rs = b.sge(recv_base + i * kSlot, kSlot);  // room for one SEND per op index
    EXPECT_EQ(b.qp->PostRecv({uint64_t(i), {&rs, 1}}), 0);
  }
  for (int i = 0; i < kOps; ++i) {
    uint32_t kind = static_cast<uint32_t>(rng.Below(4));
    uint32_t len = static_cast<uint32_t>(rng.Below(max_len + 1));
    Op& op = ops[i];
    SendWr wr;
    wr.wr_id = i;
    wr.send_flags = kSendSignaled;
    Sge s;
    if (kind == 0) {
      op = {WrOpcode::kSend, len};
      s = a.sge(i * kSlot, len);
      ++nsend;
    } else if (kind == 1) {
      op = {WrOpcode::kRdmaWrite, len};
      s = a.sge(i * kSlot, len);
      wr.rdma.remote_addr = b.addr(i * kSlot);
      wr.rdma.rkey = b.mr->rkey();
    } else if (kind == 2) {
      op = {WrOpcode::kRdmaRead, len};
      s = a.sge(i * kSlot + kSlot / 2, len);
      wr.rdma.remote_addr = b.addr(i * kSlot + kSlot / 2);
      wr.rdma.rkey = b.mr->rkey();
    } else {
      op = {WrOpcode::kAtomicFetchAndAdd, 8};
      s = a.sge(fa_base + i * 8, 8);
      wr.atomic.remote_addr = b.addr(kCounterOffset);
      wr.atomic.rkey = b.mr->rkey();
      wr.atomic.compare_add = uint64_t(i) + 1;
    }
    wr.opcode = op.opcode;
    wr.sg_list = {&s, 1};
    EXPECT_EQ(a.qp->PostSend(wr), 0);
  }
  bool done = p.RunUntilCompletions(*a.scq, kOps, core::Duration::Seconds(60));
  EXPECT_TRUE(done) << "the QP neither finished nor failed: a hang";
  // Let in-flight packets and the receiver settle.
  p.rt().RunUntil(p.rt().Now() + core::Duration::Milliseconds(50));
  auto wcs = p.Drain(*a.scq);
  EXPECT_EQ(wcs.size(), size_t(kOps));
  Outcome out;
  int ok_prefix = 0;
  while (ok_prefix < int(wcs.size()) && wcs[ok_prefix].status == WcStatus::kSuccess) ++ok_prefix;
  out.all_ok = ok_prefix == kOps;
  if (!out.all_ok && ok_prefix < int(wcs.size())) {
    EXPECT_EQ(wcs[ok_prefix].status, WcStatus::kRetryExcErr)
        << "op " << ok_prefix << ": " << WcStatusName(wcs[ok_prefix].status);
    for (size_t i = ok_prefix + 1; i < wcs.size(); ++i) {
      EXPECT_EQ(wcs[i].status, WcStatus::kWrFlushErr) << "op " << i;
    }
    out.failed_retry_exceeded = wcs[ok_prefix].status == WcStatus::kRetryExcErr;
  }
  for (size_t i = 0; i < wcs.size(); ++i) EXPECT_EQ(wcs[i].wr_id, i) << "completion order";

  // Effects of the successful prefix.
  uint64_t sum = counter0;
  for (int i = 0; i < ok_prefix; ++i) {
    const Op& op = ops[i];
    if (op.opcode == WrOpcode::kRdmaWrite) {
      EXPECT_EQ(std::memcmp(b.buf.data() + i * kSlot, a0.data() + i * kSlot, op.len), 0)
          << "WRITE " << i << " corrupted";
    } else if (op.opcode == WrOpcode::kRdmaRead) {
      size_t off = i * kSlot + kSlot / 2;
      EXPECT_EQ(std::memcmp(a.buf.data() + off, b0.data() + off, op.len), 0)
          << "READ " << i << " corrupted";
    } else if (op.opcode == WrOpcode::kAtomicFetchAndAdd) {
      uint64_t got;
      std::memcpy(&got, a.buf.data() + fa_base + i * 8, 8);
      EXPECT_EQ(got, sum) << "FETCH_ADD " << i << " saw a wrong value (executed twice?)";
      sum += uint64_t(i) + 1;
    }
  }
  if (out.all_ok) {
    uint64_t final_counter;
    std::memcpy(&final_counter, b.buf.data() + kCounterOffset, 8);
    EXPECT_EQ(final_counter, sum) << "every atomic exactly once";
  }
  // The receiver: each SEND once, in order, intact. It may have received SENDs the sender
  // could not confirm before failing, never more than were sent.
  std::vector<WorkCompletion> rwcs = p.Drain(*b.rcq);
  int sends_seen = 0;
  int send_idx = 0;
  for (const WorkCompletion& rwc : rwcs) {
    if (rwc.status != WcStatus::kSuccess) {
      EXPECT_EQ(rwc.status, WcStatus::kWrFlushErr);
      continue;
    }
    while (send_idx < kOps && ops[send_idx].opcode != WrOpcode::kSend) ++send_idx;
    if (send_idx >= kOps) {
      ADD_FAILURE() << "more receives completed than SENDs posted";
      break;
    }
    EXPECT_EQ(rwc.wr_id, uint64_t(sends_seen)) << "receives complete in posted order";
    EXPECT_EQ(rwc.byte_len, ops[send_idx].len) << "SEND " << send_idx;
    EXPECT_EQ(std::memcmp(b.buf.data() + recv_base + sends_seen * kSlot,
                          a0.data() + send_idx * kSlot, ops[send_idx].len),
              0)
        << "SEND " << send_idx << " corrupted";
    ++sends_seen;
    ++send_idx;
  }
  if (out.all_ok) {
    EXPECT_EQ(sends_seen, nsend);
  }
  return out;
}

struct SweepConfig {
  const char* name;
  FaultConfig faults;
  uint64_t first_seed;
  int seeds;
  uint32_t max_len = 512;  // bytes per operation (MTU 256)
  bool small_window = false;
};

void PrintTo(const SweepConfig& c, std::ostream* os) { *os << c.name; }

class RcFaultSweep : public ::testing::TestWithParam<SweepConfig> {};

TEST_P(RcFaultSweep, EveryMessageIntactExactlyOnceInOrderOrRetryExceeded) {
  const SweepConfig& c = GetParam();
  int ok = 0, failed = 0;
  for (int i = 0; i < c.seeds; ++i) {
    Outcome r = RunSeed(c.first_seed + i, c.faults, c.name, c.max_len, c.small_window);
    ok += r.all_ok;
    failed += r.failed_retry_exceeded;
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "stopping the sweep at the first failing seed " << c.first_seed + i;
      return;
    }
  }
  std::printf("[ sweep    ] %s: %d seeds, %d completed, %d failed with RETRY_EXC_ERR\n", c.name,
              c.seeds, ok, failed);
  EXPECT_EQ(ok + failed, c.seeds);
  // Retries only run out when the same packet is lost 8 times in a row; below 20% loss
  // that must never happen in these short runs.
  if (c.faults.drop_probability < 0.1) {
    EXPECT_EQ(failed, 0);
  }
}

FaultConfig Loss(double p) {
  FaultConfig f;
  f.drop_probability = p;
  return f;
}
FaultConfig Reorder() {
  FaultConfig f;
  f.reorder_probability = 0.1;
  f.max_extra_delay = core::Duration::Microseconds(30);
  return f;
}
FaultConfig Duplicate() {
  FaultConfig f;
  f.duplicate_probability = 0.1;
  return f;
}
FaultConfig Corrupt() {
  FaultConfig f;
  f.corrupt_probability = 0.05;
  return f;
}
FaultConfig Everything() {
  FaultConfig f;
  f.drop_probability = 0.03;
  f.duplicate_probability = 0.03;
  f.reorder_probability = 0.03;
  f.corrupt_probability = 0.02;
  f.delay_probability = 0.03;
  return f;
}

INSTANTIATE_TEST_SUITE_P(
    Faults, RcFaultSweep,
    ::testing::Values(SweepConfig{"loss1", Loss(0.01), 1000, 300},
                      SweepConfig{"loss5", Loss(0.05), 2000, 350},
                      SweepConfig{"loss20", Loss(0.20), 3000, 350},
                      SweepConfig{"reorder", Reorder(), 4000, 250},
                      SweepConfig{"duplicate", Duplicate(), 5000, 250},
                      SweepConfig{"corrupt", Corrupt(), 6000, 200},
                      SweepConfig{"mixed", Everything(), 7000, 200},
                      SweepConfig{"long_loss5", Loss(0.05), 8000, 100, 8192, true},
                      SweepConfig{"long_mixed", Everything(), 9000, 100, 8192, true}),
    [](const ::testing::TestParamInfo<SweepConfig>& i) { return std::string(i.param.name); });

TEST(RcFault, FaultsReallyHappenAndAreRecovered) {
  // Guards the sweep against testing nothing: with 5% loss the fabric drops packets and the
  // engine retransmits them.
  PairOptions o;
  o.fabric.faults = Loss(0.05);
  o.fabric.seed = 77;
  o.mtu = Mtu::k256;
  o.timeout = 6;
  RcPair p(o);
  Fill(p.a().buf, 0, 50000, 77);
  Sge s = p.a().sge(0, 50000);
  SendWr wr;
  wr.opcode = WrOpcode::kRdmaWrite;
  wr.send_flags = kSendSignaled;
  wr.sg_list = {&s, 1};
  wr.rdma.remote_addr = p.b().addr(0);
  wr.rdma.rkey = p.b().mr->rkey();
  ASSERT_EQ(p.a().qp->PostSend(wr), 0);
  WorkCompletion wc = p.WaitOne(*p.a().scq);
  EXPECT_EQ(wc.status, WcStatus::kSuccess);
  EXPECT_EQ(std::memcmp(p.a().buf.data(), p.b().buf.data(), 50000), 0);
  EXPECT_GT(p.fabric().stats().dropped, 0u);
  EXPECT_GT(p.a().qp->stats().retransmitted_packets, 0u);
}

}  // namespace
}  // namespace s3rdma::emu
