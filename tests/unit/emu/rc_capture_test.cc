// What the RC engine puts on the wire, as an independent dissector sees it: a pcap capture
// of every operation, read back by tshark (Wireshark's InfiniBand/RoCE dissector). Checks
// that every packet dissects as InfiniBand, that the requester's opcodes are the expected
// FIRST/MIDDLE/LAST sequences, and that PSNs are consecutive (across the 2^24 wrap, with a
// READ consuming one PSN per response packet), and that responses carry the PSNs they
// answer.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/emu/rc_test_util.h"

namespace s3rdma::emu {
namespace {

using testing::Fill;
using testing::PairOptions;
using testing::RcPair;

int RunCommand(const std::string& command, std::string* out) {
  out->clear();
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out->append(buf, n);
  int rc = ::pclose(pipe);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

struct Row {
  std::string protocols;
  std::string src;
  uint32_t opcode = 0;
  uint32_t psn = 0;
};

TEST(RcCapture, TsharkSeesEveryOperationWithConsecutivePsns) {
  std::string out;
  if (RunCommand("command -v tshark 2>/dev/null", &out) != 0 || out.empty()) {
    if (std::getenv("CI") != nullptr) FAIL() << "tshark missing in CI (scripts/packages.txt lists it)";
    GTEST_SKIP() << "tshark not installed";
  }
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("s3rdma_rc_capture_" + std::to_string(::getpid()) + ".pcap"))
                               .string();
  const uint32_t p0 = 0xFFFFFE;  // the requester's PSNs wrap after two packets
  {
    PairOptions o;
    o.mtu = Mtu::k256;
    o.a_psn = p0;
    o.pcap_path = path;
    RcPair p(o);
    auto& a = p.a();
    auto& b = p.b();
    Fill(a.buf, 0, 4096, 3);
    Sge rs[2] = {b.sge(0, 1024), b.sge(1024, 1024)};
    ASSERT_EQ(b.qp->PostRecv({1, {&rs[0], 1}}), 0);
    ASSERT_EQ(b.qp->PostRecv({2, {&rs[1], 1}}), 0);
    Sge s600 = a.sge(0, 600);
    Sge s8 = a.sge(3000, 8);
    Sge r600 = a.sge(2000, 600);
    SendWr send;
    send.opcode = WrOpcode::kSend;
    send.sg_list = {&s600, 1};
    SendWr wimm = send;
    wimm.opcode = WrOpcode::kRdmaWriteWithImm;
    wimm.imm_data = 5;
    wimm.rdma.remote_addr = b.addr(4096);
    wimm.rdma.rkey = b.mr->rkey();
    SendWr read;
    read.opcode = WrOpcode::kRdmaRead;
    read.sg_list = {&r600, 1};
    read.rdma.remote_addr = b.addr(8192);
    read.rdma.rkey = b.mr->rkey();
    SendWr cas;
    cas.opcode = WrOpcode::kAtomicCmpAndSwp;
    cas.sg_list = {&s8, 1};
    cas.atomic.remote_addr = b.addr(16384);
    cas.atomic.rkey = b.mr->rkey();
    SendWr fadd = cas;
    fadd.opcode = WrOpcode::kAtomicFetchAndAdd;
    fadd.send_flags = kSendSignaled;
    for (const SendWr* wr : {&send, &wimm, &read, &cas, &fadd}) ASSERT_EQ(a.qp->PostSend(*wr), 0);
    ASSERT_TRUE(p.RunUntilCompletions(*a.scq, 1));
    EXPECT_EQ(p.Drain(*a.scq)[0].status, WcStatus::kSuccess);
    p.rt().Run();
  }
  int rc = RunCommand("tshark -n -r " + path +
                          " -T fields -E separator=, -e frame.protocols -e ip.src"
                          " -e infiniband.bth.opcode -e infiniband.bth.psn 2>/dev/null",
                      &out);
  std::filesystem::remove(path);
  ASSERT_EQ(rc, 0) << out;
  std::vector<Row> req, resp;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ls(line);
    std::string cell;
    while (std::getline(ls, cell, ',')) f.push_back(cell);
    ASSERT_EQ(f.size(), 4u) << line;
    EXPECT_NE(f[0].find("udp:infiniband"), std::string::npos) << "not dissected as RoCE: " << line;
    Row r{f[0], f[1], static_cast<uint32_t>(std::stoul(f[2])), static_cast<uint32_t>(std::stoul(f[3]))};
    (r.src == "10.0.0.1" ? req : resp).push_back(r);
  }
  // Requester: SEND 600 B at MTU 256 = FIRST, MIDDLE, LAST; WRITE_WITH_IMM likewise; READ
  // request (consumes 3 PSNs); COMPARE_SWAP; FETCH_ADD.
  const std::vector<uint32_t> want_ops = {0x00, 0x01, 0x02, 0x06, 0x07, 0x09, 0x0C, 0x13, 0x14};
  const std::vector<uint32_t> psn_step = {1, 1, 1, 1, 1, 1, 3, 1, 1};
  ASSERT_EQ(req.size(), want_ops.size()) << out;
  uint32_t psn = p0;
  for (size_t i = 0; i < req.size(); ++i) {
    EXPECT_EQ(req[i].opcode, want_ops[i]) << "request " << i;
    EXPECT_EQ(req[i].psn, psn) << "request " << i << " PSN";
    psn = (psn + psn_step[i]) & kPsnMask;
  }
  // Responder: READ responses FIRST/MIDDLE/LAST at the READ's three PSNs, an atomic ACK for
  // each atomic at its PSN, and ACKs (coalesced) for the SEND and WRITE messages.
  const uint32_t read_psn = (p0 + 6) & kPsnMask;
  std::vector<uint32_t> read_ops, read_psns, atomic_psns;
  int acks = 0;
  for (const Row& r : resp) {
    if (r.opcode >= 0x0D && r.opcode <= 0x10) {
      read_ops.push_back(r.opcode);
      read_psns.push_back(r.psn);
    } else if (r.opcode == 0x12) {
      atomic_psns.push_back(r.psn);
    } else {
      EXPECT_EQ(r.opcode, 0x11u);
      ++acks;
    }
  }
  EXPECT_EQ(read_ops, (std::vector<uint32_t>{0x0D, 0x0E, 0x0F}));
  EXPECT_EQ(read_psns, (std::vector<uint32_t>{read_psn, (read_psn + 1) & kPsnMask, (read_psn + 2) & kPsnMask}));
  EXPECT_EQ(atomic_psns, (std::vector<uint32_t>{(p0 + 9) & kPsnMask, (p0 + 10) & kPsnMask}));
  EXPECT_GE(acks, 1);
  EXPECT_LE(acks, 2) << "ACK requests only on message ends, coalesced";
}

}  // namespace
}  // namespace s3rdma::emu
