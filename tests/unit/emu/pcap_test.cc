// pcap capture: file format, capture decorator, and independent checks of what we wrote:
// the ICRC recomputed by a Python script (zlib, and scapy's RoCE layer), and tshark
// dissecting every frame as InfiniBand with the expected opcodes and PSNs.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/real_runtime.h"
#include "core/virtual_runtime.h"
#include "emu/inproc_fabric.h"
#include "emu/pcap.h"
#include "emu/udp_fabric.h"

namespace s3rdma::emu {
namespace {

using core::Duration;
using core::Time;
namespace fs = std::filesystem;

const NodeAddress kA{Ipv4(10, 0, 0, 1)};
const NodeAddress kB{Ipv4(10, 0, 0, 2)};

const std::vector<uint8_t> kAllOpcodes = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B,
                                          0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x14, 0x16, 0x17};

RocePacket Packet(uint8_t opcode, uint32_t psn) {
  RocePacket p;
  p.address.src_port = RoceSourcePort(0x21);
  p.bth.opcode = opcode;
  p.bth.dest_qp = 0x22;
  p.bth.psn = psn;
  p.bth.ack_request = GetOpcodeInfo(opcode).is_last || GetOpcodeInfo(opcode).is_only;
  p.reth = {0x7f0000001000ull + psn, 0x1234, 8192};
  p.aeth = Aeth::Ack(psn);
  p.atomic_eth = {0x7f0000002000ull, 0x5678, 1, 0};
  p.atomic_ack = {42};
  p.immediate = 0x01020304;
  p.invalidate_rkey = 0x99;
  const OpcodeInfo& info = GetOpcodeInfo(opcode);
  if (info.has_payload) {
    std::vector<uint8_t> bytes(info.is_first || info.is_middle ? 1024 : 37 + psn);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = uint8_t(i + psn);
    p.payload = Payload::CopyOf(bytes);
  }
  return p;
}

std::string TempPath(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return (fs::temp_directory_path() /
          ("s3rdma_" + std::string(info->name()) + "_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

// Runs `command`, returns its exit status and stdout.
int RunCommand(const std::string& command, std::string* out) {
  out->clear();
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out->append(buf, n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool HaveProgram(const std::string& name) {
  std::string out;
  return RunCommand("command -v " + name + " 2>/dev/null", &out) == 0 && !out.empty();
}

bool InCi() { return std::getenv("CI") != nullptr; }

// Captures one packet of every opcode from A to B (and an ACK back) over an in-process
// fabric with 1 us latency; returns what was sent, in order, with wire addressing.
std::vector<RocePacket> CaptureEveryOpcode(const std::string& path) {
  core::VirtualRuntime rt;
  InProcConfig config;
  config.latency = Duration::Microseconds(1);
  InProcFabric fabric(rt, config);
  auto writer = PcapWriter::Open(path);
  EXPECT_TRUE(writer.ok()) << writer.status().ToString();
  std::shared_ptr<PcapWriter> shared(std::move(writer).value());
  std::vector<RocePacket> sent;
  {
    PcapCapture capture(fabric, shared);
    std::unique_ptr<FabricPort> a, b;
    a = std::move(capture.Attach(kA, [](RocePacket) {}).value());
    b = std::move(capture.Attach(kB, [&](RocePacket p) {
                    if (p.bth.psn == kAllOpcodes.size() - 1) {
                      RocePacket ack = Packet(0x11, p.bth.psn);
                      RocePacket wire = ack;
                      wire.address = {kB.ipv4, kA.ipv4, ack.address.src_port, kRoceUdpPort};
                      sent.push_back(wire);
                      EXPECT_TRUE(b->Send(kA, ack).ok());
                    }
                  }).value());
    for (uint32_t psn = 0; psn < kAllOpcodes.size(); ++psn) {
      rt.At(Time::Zero() + Duration::Microseconds(10 * psn), [&, psn] {
        RocePacket p = Packet(kAllOpcodes[psn], psn);
        RocePacket wire = p;
        wire.address = {kA.ipv4, kB.ipv4, p.address.src_port, kRoceUdpPort};
        sent.push_back(wire);
        EXPECT_TRUE(a->Send(kB, p).ok());
      });
    }
    rt.Run();
  }
  EXPECT_TRUE(shared->Flush().ok());
  return sent;
}

TEST(Pcap, CaptureRecordsEachPacketOnceWithVirtualTimestamps) {
  const std::string path = TempPath("all.pcap");
  const std::vector<RocePacket> sent = CaptureEveryOpcode(path);
  auto records = ReadPcapFile(path);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    auto decoded = DecodeFrame((*records)[i].frame);
    ASSERT_TRUE(decoded.ok()) << i << ": " << decoded.status().ToString();
    EXPECT_TRUE(SamePacket(*decoded, sent[i])) << decoded->ToString() << "\nvs " << sent[i].ToString();
  }
  // Requests are recorded when sent (every 10 us); the ACK when B sends it on receipt of the
  // last request, 1 us after that request left A.
  EXPECT_EQ((*records)[0].when, Time::Zero());
  EXPECT_EQ((*records)[5].when, Time::Zero() + Duration::Microseconds(50));
  EXPECT_EQ(records->back().when, Time::Zero() + Duration::Microseconds(10 * (kAllOpcodes.size() - 1) + 1));
  fs::remove(path);
}

TEST(Pcap, IcrcMatchesIndependentPythonImplementations) {
  if (!fs::exists("/usr/bin/python3")) {
    if (InCi()) FAIL() << "/usr/bin/python3 missing in CI";
    GTEST_SKIP() << "/usr/bin/python3 not installed";
  }
  const std::string script = (fs::path(__FILE__).parent_path() / "icrc_check.py").string();
  const std::string path = TempPath("icrc.pcap");
  CaptureEveryOpcode(path);
  const std::string flags = InCi() ? " --require-scapy" : "";
  std::string out;
  int rc = RunCommand("/usr/bin/python3 " + script + flags + " " + path + " 2>&1", &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find(std::to_string(kAllOpcodes.size() + 1) + " frames, 0 mismatches"), std::string::npos) << out;
  std::printf("%s", out.c_str());

  // Negative control: the checker must notice a wrong ICRC.
  std::vector<char> bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(bytes.size(), 100u);
  bytes.back() ^= 0x01;  // last byte of the last frame: its ICRC
  {
    std::ofstream o(path, std::ios::binary | std::ios::trunc);
    o.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  rc = RunCommand("/usr/bin/python3 " + script + " " + path + " 2>&1", &out);
  EXPECT_EQ(rc, 1) << out;
  fs::remove(path);
}

TEST(Pcap, UdpFabricDatagramsCarryAnIcrcPythonAgreesWith) {
  // The bytes UdpFabric really puts in its datagrams (not a re-encoding): received with a
  // plain socket, framed with the addressing they travelled with, checked by the script.
  if (!fs::exists("/usr/bin/python3")) {
    if (InCi()) FAIL() << "/usr/bin/python3 missing in CI";
    GTEST_SKIP() << "/usr/bin/python3 not installed";
  }
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(Ipv4(127, 0, 0, 1));
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  const NodeAddress sink{Ipv4(127, 0, 0, 1), ntohs(sa.sin_port)};

  core::RealRuntime rt;
  UdpFabric fabric(rt);
  auto a = std::move(fabric.Attach({Ipv4(127, 0, 0, 1), 0}, [](RocePacket) {}).value());
  for (uint32_t psn = 0; psn < kAllOpcodes.size(); ++psn) ASSERT_TRUE(a->Send(sink, Packet(kAllOpcodes[psn], psn)).ok());
  rt.RunFor(Duration::Milliseconds(50));

  const std::string path = TempPath("udp_wire.pcap");
  {
    auto writer = std::move(PcapWriter::Open(path).value());
    std::vector<uint8_t> buf(65536);
    for (size_t i = 0; i < kAllOpcodes.size(); ++i) {
      const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
      ASSERT_GT(n, 0) << "datagram " << i << " missing";
      // Frame the received bytes: EncodeFrame of a packet with the same headers gives the
      // Ethernet/IPv4/UDP part; the UDP payload is then replaced by the received bytes.
      auto decoded = DecodeUdpPayload(std::span<const uint8_t>(buf.data(), size_t(n)),
                                      {a->address().ipv4, sink.ipv4, a->address().udp_port, sink.udp_port});
      ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
      auto frame = *EncodeFrame(*decoded);
      ASSERT_EQ(frame.size(), kFrameOverheadBytes + size_t(n));
      std::memcpy(frame.data() + kFrameOverheadBytes, buf.data(), size_t(n));
      writer->WriteFrame(Time::Zero(), frame);
    }
  }
  ::close(fd);
  std::string out;
  const int rc = RunCommand("/usr/bin/python3 " + (fs::path(__FILE__).parent_path() / "icrc_check.py").string() +
                                (InCi() ? " --require-scapy " : " ") + path + " 2>&1",
                            &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find(std::to_string(kAllOpcodes.size()) + " frames, 0 mismatches"), std::string::npos) << out;
  fs::remove(path);
}

TEST(Pcap, TsharkDissectsEveryOpcodeAsInfiniband) {
  if (!HaveProgram("tshark")) {
    if (InCi()) FAIL() << "tshark missing in CI (scripts/packages.txt lists it)";
    GTEST_SKIP() << "tshark not installed";
  }
  const std::string path = TempPath("tshark.pcap");
  const std::vector<RocePacket> sent = CaptureEveryOpcode(path);
  std::string out;
  const int rc = RunCommand("tshark -n -r " + path +
                         " -T fields -E separator=, -e frame.protocols -e infiniband.bth.opcode"
                         " -e infiniband.bth.psn -e infiniband.bth.destqp -e infiniband.reth.dmalen"
                         " -e infiniband.aeth.msn 2>/dev/null",
                     &out);
  ASSERT_EQ(rc, 0) << out;
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    if (end > start) lines.push_back(out.substr(start, end - start));
    start = end + 1;
  }
  ASSERT_EQ(lines.size(), sent.size()) << out;
  for (size_t i = 0; i < sent.size(); ++i) {
    const OpcodeInfo& info = sent[i].info();
    char qpn[16];
    std::snprintf(qpn, sizeof qpn, "0x%06x", sent[i].bth.dest_qp);
    const std::string want_tail = "," + std::to_string(sent[i].bth.opcode) + "," + std::to_string(sent[i].bth.psn) +
                                  "," + qpn + "," + (info.has_reth ? std::to_string(sent[i].reth.dma_length) : "") +
                                  "," + (info.has_aeth ? std::to_string(sent[i].aeth.msn) : "");
    EXPECT_NE(lines[i].find("eth:ethertype:ip:udp:infiniband"), std::string::npos) << lines[i];
    EXPECT_TRUE(lines[i].size() >= want_tail.size() &&
                lines[i].compare(lines[i].size() - want_tail.size(), want_tail.size(), want_tail) == 0)
        << "frame " << i << " (" << OpcodeName(sent[i].bth.opcode) << "): tshark says '" << lines[i]
        << "', want ..." << want_tail;
  }
  fs::remove(path);
}

TEST(Pcap, UdpCapturePerProcessRecordsBothDirections) {
  core::RealRuntime rt;
  UdpFabric fabric(rt);
  const std::string path_a = TempPath("a.pcap"), path_b = TempPath("b.pcap");
  std::shared_ptr<PcapWriter> wa(std::move(PcapWriter::Open(path_a).value()));
  std::shared_ptr<PcapWriter> wb(std::move(PcapWriter::Open(path_b).value()));
  int acks = 0;
  {
    // Two captures stand for two processes, each recording its own port.
    PcapCapture ca(fabric, wa), cb(fabric, wb);
    std::unique_ptr<FabricPort> a, b;
    a = std::move(ca.Attach({Ipv4(127, 0, 0, 1), 0}, [&](RocePacket) { ++acks; }).value());
    b = std::move(cb.Attach({Ipv4(127, 0, 0, 1), 0}, [&](RocePacket p) {
                    ASSERT_TRUE(b->Send(a->address(), Packet(0x11, p.bth.psn)).ok());
                  }).value());
    for (uint32_t i = 0; i < 5; ++i) ASSERT_TRUE(a->Send(b->address(), Packet(0x04, i)).ok());
    for (int i = 0; i < 100 && acks < 5; ++i) rt.RunFor(Duration::Milliseconds(10));
  }
  ASSERT_EQ(acks, 5);
  wa.reset();
  wb.reset();
  for (const std::string& path : {path_a, path_b}) {
    auto records = ReadPcapFile(path);
    ASSERT_TRUE(records.ok());
    EXPECT_EQ(records->size(), 10u) << path;
    DecodeOptions o;
    o.require_roce_port = false;  // ephemeral ports in this test
    for (const PcapRecord& r : *records) {
      EXPECT_TRUE(DecodeFrame(r.frame, o).ok());
      EXPECT_GT(r.epoch_ns / 1000'000'000, 1'600'000'000) << "real runs carry wall-clock timestamps";
    }
    fs::remove(path);
  }
}

TEST(Pcap, Errors) {
  EXPECT_EQ(PcapWriter::Open("/nonexistent-dir/x.pcap").status().code(), core::StatusCode::kIOError);
  EXPECT_EQ(ReadPcapFile("/nonexistent-dir/x.pcap").status().code(), core::StatusCode::kIOError);
  const std::string path = TempPath("junk.pcap");
  {
    std::ofstream o(path, std::ios::binary);
    o << "this is not a pcap file at all";
  }
  EXPECT_EQ(ReadPcapFile(path).status().code(), core::StatusCode::kInvalidArgument);
  {
    auto w = std::move(PcapWriter::Open(path).value());
    w->WriteFrame(Time::Zero(), std::vector<uint8_t>(60, 0));
    RocePacket bad;
    bad.bth.opcode = 0x15;
    w->WritePacket(Time::Zero(), bad);
    EXPECT_EQ(w->records(), 1u);
    EXPECT_EQ(w->skipped(), 1u);
  }
  {
    std::ofstream o(path, std::ios::binary | std::ios::app);
    o << "trunc";  // a record header cut short
  }
  EXPECT_EQ(ReadPcapFile(path).status().code(), core::StatusCode::kInvalidArgument);
  fs::remove(path);
}

}  // namespace
}  // namespace s3rdma::emu
