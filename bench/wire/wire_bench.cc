// wire_bench: the cost of the emu wire layer alone (codec, ICRC, fabrics), without the RC
// engine, so the verbs-level numbers of `s3rdma perf` can be read against it.
//
//   wire_bench codec                      encode / decode / ICRC rates for one packet size
//   wire_bench inproc [--runtime virtual|real]
//                                         1 MiB "writes" cut into MTU packets, copied from a
//                                         source buffer into Payloads, carried by InProcFabric,
//                                         copied into a destination buffer (the two copies a
//                                         software RDMA WRITE does), windowed like RC
//   wire_bench udp                        the same between two processes over UdpFabric on
//                                         loopback (fork), receiver returns a credit per 32 packets
//   wire_bench udp-lat                    8-byte ping-pong over UdpFabric between two processes;
//                                         prints half the round trip (like ucx_perftest *_lat)
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/real_runtime.h"
#include "core/units.h"
#include "core/virtual_runtime.h"
#include "emu/inproc_fabric.h"
#include "emu/udp_fabric.h"

namespace {

using namespace s3rdma;
using namespace s3rdma::emu;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// User + system CPU seconds of this process (RUSAGE_SELF) or of its waited-for children.
double CpuSeconds(int who) {
  rusage u{};
  getrusage(who, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

struct Options {
  int64_t message_bytes = 1 << 20;
  int64_t mtu = 4096;
  int64_t messages = 2000;
  int64_t window = 256;
  double seconds = 5;
  int64_t iterations = 20000;
  std::string runtime = "virtual";
  bool gso = true;
  bool busy_poll = false;
};

// Runs `rt` until `done` or `limit` of wall time: blocking in epoll, or spinning on poll()
// like perftest and ucx_perftest do (--busy-poll).
void RunUntilDone(core::RealRuntime& rt, const bool& done, bool busy_poll, double limit_seconds = 120) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(limit_seconds);
  if (busy_poll) {
    while (!done && Clock::now() < deadline) {
      rt.io().restart();
      rt.io().poll();
    }
    return;
  }
  while (!done && Clock::now() < deadline) rt.RunFor(core::Duration::Milliseconds(100));
}

RocePacket DataPacket(uint32_t psn, int64_t offset, int64_t message_bytes, Payload payload) {
  RocePacket p;
  const bool first = offset == 0;
  const bool last = offset + int64_t(payload.size()) >= message_bytes;
  p.bth.opcode = uint8_t(first && last ? Opcode::kRdmaWriteOnly
                         : first       ? Opcode::kRdmaWriteFirst
                         : last        ? Opcode::kRdmaWriteLast
                                       : Opcode::kRdmaWriteMiddle);
  p.bth.dest_qp = 0x11;
  p.bth.psn = psn & kPsnMask;
  p.bth.ack_request = last;
  p.address.src_port = RoceSourcePort(0x10);
  p.reth = {uint64_t(offset), 0x1234, uint32_t(message_bytes)};
  p.payload = std::move(payload);
  return p;
}

int Codec(const Options& o) {
  std::vector<uint8_t> src(size_t(o.mtu), 0x5A);
  RocePacket p = DataPacket(1, 4096, 1 << 20, Payload::CopyOf(src));
  p.address = {Ipv4(10, 0, 0, 1), Ipv4(10, 0, 0, 2), RoceSourcePort(0x10), kRoceUdpPort};
  std::vector<uint8_t> buf(p.udp_payload_bytes());
  auto t0 = Clock::now();
  for (int64_t i = 0; i < o.iterations; ++i) (void)EncodeUdpPayload(p, buf);
  auto t1 = Clock::now();
  for (int64_t i = 0; i < o.iterations; ++i) (void)DecodeUdpPayload(std::span<const uint8_t>(buf), p.address);
  auto t2 = Clock::now();
  DecodeOptions no_icrc;
  no_icrc.verify_icrc = false;
  Payload datagram = Payload::CopyOf(buf);
  for (int64_t i = 0; i < o.iterations; ++i) (void)DecodeUdpPayload(datagram, p.address, no_icrc);
  auto t3 = Clock::now();
  const double bytes = double(o.iterations) * double(buf.size());
  std::printf("codec, %lld-byte payload packets, %lld iterations\n", (long long)o.mtu, (long long)o.iterations);
  std::printf("  encode (headers + copy + ICRC): %8.2f GB/s  %8.0f ns/packet\n", bytes / Seconds(t0, t1) / 1e9,
              Seconds(t0, t1) / double(o.iterations) * 1e9);
  std::printf("  decode (copy + ICRC check):     %8.2f GB/s  %8.0f ns/packet\n", bytes / Seconds(t1, t2) / 1e9,
              Seconds(t1, t2) / double(o.iterations) * 1e9);
  std::printf("  decode zero-copy, no ICRC:      %8.2f GB/s  %8.0f ns/packet\n", bytes / Seconds(t2, t3) / 1e9,
              Seconds(t2, t3) / double(o.iterations) * 1e9);
  return 0;
}

// Sender state shared by the in-process and UDP streams.
struct Stream {
  Options o;
  std::vector<uint8_t> src;
  int64_t packets_per_message = 0;
  int64_t total_packets = 0;
  int64_t sent = 0;
  int64_t credited = 0;  // packets the receiver has confirmed
  FabricPort* port = nullptr;
  NodeAddress to;

  explicit Stream(const Options& opt) : o(opt), src(size_t(opt.message_bytes)) {
    for (size_t i = 0; i < src.size(); ++i) src[i] = uint8_t(i * 13);
    packets_per_message = (o.message_bytes + o.mtu - 1) / o.mtu;
    total_packets = packets_per_message * o.messages;
  }
  void Pump() {
    while (sent < total_packets && sent - credited < o.window) {
      const int64_t offset = (sent % packets_per_message) * o.mtu;
      const size_t n = size_t(std::min<int64_t>(o.mtu, o.message_bytes - offset));
      Payload payload = Payload::Allocate(n);
      std::memcpy(payload.mutable_data(), src.data() + offset, n);  // copy 1: source MR -> packet
      (void)port->Send(to, DataPacket(uint32_t(sent), offset, o.message_bytes, std::move(payload)));
      ++sent;
    }
  }
};

int InProc(const Options& o) {
  std::unique_ptr<core::Runtime> rt;
  core::VirtualRuntime* vrt = nullptr;
  core::RealRuntime* rrt = nullptr;
  if (o.runtime == "virtual") {
    rt = std::make_unique<core::VirtualRuntime>();
    vrt = static_cast<core::VirtualRuntime*>(rt.get());
  } else {
    rt = std::make_unique<core::RealRuntime>();
    rrt = static_cast<core::RealRuntime*>(rt.get());
  }
  InProcFabric fabric(*rt);
  Stream stream(o);
  std::vector<uint8_t> dst(size_t(o.message_bytes));
  int64_t received = 0;
  auto a = std::move(fabric.Attach({Ipv4(10, 0, 0, 1)}, [](RocePacket) {}).value());
  auto b = std::move(fabric.Attach({Ipv4(10, 0, 0, 2)}, [&](RocePacket p) {
                       const uint64_t offset = (p.bth.psn % uint64_t(stream.packets_per_message)) * uint64_t(o.mtu);
                       std::memcpy(dst.data() + offset, p.payload.data(), p.payload.size());  // copy 2
                       ++received;
                       if (received % 32 == 0 || received == stream.total_packets) {
                         stream.credited = received;
                         stream.Pump();
                       }
                     }).value());
  stream.port = a.get();
  stream.to = b->address();
  const double cpu0 = CpuSeconds(RUSAGE_SELF);
  auto t0 = Clock::now();
  stream.Pump();
  if (vrt != nullptr) {
    vrt->Run();
  } else {
    rt->Post([] {});
    while (received < stream.total_packets) rrt->RunFor(core::Duration::Milliseconds(100));
  }
  auto t1 = Clock::now();
  const bool intact = std::memcmp(dst.data(), stream.src.data(), dst.size()) == 0;
  const double bytes = double(o.message_bytes) * double(o.messages);
  const double cpu = CpuSeconds(RUSAGE_SELF) - cpu0;
  std::printf("inproc (%s runtime): %lld x %s messages, MTU %lld, window %lld packets: %.2f GB/s, %.2f Mpkt/s, "
              "%.2f GB per CPU-second, %s\n",
              o.runtime.c_str(), (long long)o.messages, core::ToString(core::Bytes(o.message_bytes)).c_str(),
              (long long)o.mtu, (long long)o.window, bytes / Seconds(t0, t1) / 1e9,
              double(stream.total_packets) / Seconds(t0, t1) / 1e6, bytes / cpu / 1e9,
              intact ? "data intact" : "DATA CORRUPT");
  return intact && received == stream.total_packets ? 0 : 1;
}

// Child: receives on an ephemeral loopback port, reports the port through `fd`, returns one
// ACKNOWLEDGE (as a credit) per 32 packets, or echoes every packet when `echo`.
int UdpReceiver(int fd, bool echo, int64_t expect_packets, bool gso, bool busy_poll) {
  core::RealRuntime rt;
  UdpFabricConfig config;
  config.gso = gso;
  UdpFabric fabric(rt, config);
  int64_t received = 0;
  std::unique_ptr<FabricPort> port;
  port = std::move(fabric.Attach({Ipv4(127, 0, 0, 1), 0}, [&](RocePacket p) {
                     ++received;
                     const NodeAddress from{p.address.src_ip, p.address.src_port};
                     if (echo || received % 32 == 0 || received == expect_packets) {
                       RocePacket ack;
                       ack.bth.opcode = uint8_t(Opcode::kAcknowledge);
                       ack.bth.dest_qp = 0x10;
                       ack.bth.psn = p.bth.psn;
                       ack.aeth = Aeth::Ack(uint32_t(received));
                       (void)port->Send(from, std::move(ack));
                     }
                   }).value());
  const uint16_t bound = port->address().udp_port;
  if (write(fd, &bound, sizeof bound) != sizeof bound) return 1;
  close(fd);
  // Done once everything arrived and the port was quiet for 50 ms (the last replies left);
  // bounded, so a dead parent cannot leave this process behind.
  const bool never = false;
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  int64_t last = -1;
  while (Clock::now() < deadline) {
    RunUntilDone(rt, never, busy_poll, 0.05);
    if (received >= expect_packets && received == last) break;
    last = received;
  }
  return received >= expect_packets ? 0 : 1;
}

int Udp(const Options& o, bool latency) {
  int fds[2];
  if (pipe(fds) != 0) return 1;
  Stream stream(o);
  const int64_t expect = latency ? o.iterations : stream.total_packets;
  const pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    _exit(UdpReceiver(fds[1], latency, expect, o.gso, o.busy_poll));
  }
  close(fds[1]);
  uint16_t port_number = 0;
  if (read(fds[0], &port_number, sizeof port_number) != sizeof port_number) return 1;
  close(fds[0]);

  core::RealRuntime rt;
  UdpFabricConfig config;
  config.gso = o.gso;
  UdpFabric fabric(rt, config);
  const NodeAddress to{Ipv4(127, 0, 0, 1), port_number};
  int64_t acked = 0;
  std::vector<double> rtts;
  Clock::time_point ping_sent;
  bool finished = false;
  std::unique_ptr<FabricPort> port;
  auto send_ping = [&] {
    RocePacket p = DataPacket(uint32_t(rtts.size()), 0, 8, Payload::CopyOf(std::vector<uint8_t>(8, 1)));
    ping_sent = Clock::now();
    (void)port->Send(to, std::move(p));
  };
  port = std::move(fabric.Attach({Ipv4(127, 0, 0, 1), 0}, [&](RocePacket p) {
                     if (latency) {
                       rtts.push_back(Seconds(ping_sent, Clock::now()));
                       if (int64_t(rtts.size()) < o.iterations) {
                         send_ping();
                       } else {
                         finished = true;
                       }
                       return;
                     }
                     acked = p.aeth.msn;
                     stream.credited = acked;
                     stream.Pump();
                     if (acked >= stream.total_packets) finished = true;
                   }).value());
  stream.port = port.get();
  stream.to = to;
  const double cpu0 = CpuSeconds(RUSAGE_SELF);
  auto t0 = Clock::now();
  if (latency) {
    send_ping();
  } else {
    stream.Pump();
  }
  RunUntilDone(rt, finished, o.busy_poll);
  auto t1 = Clock::now();
  const double cpu = CpuSeconds(RUSAGE_SELF) - cpu0;
  int child_status = 0;
  waitpid(child, &child_status, 0);
  const double child_cpu = CpuSeconds(RUSAGE_CHILDREN);
  if (latency) {
    if (rtts.empty()) return 1;
    std::sort(rtts.begin(), rtts.end());
    auto pct = [&](double q) { return rtts[size_t(q * double(rtts.size() - 1))] / 2 * 1e6; };
    std::printf("udp-lat: 8-byte WRITE_ONLY ping-pong, %zu round trips, one-way (RTT/2): min %.2f us, "
                "median %.2f us, p99 %.2f us\n",
                rtts.size(), rtts.front() / 2 * 1e6, pct(0.5), pct(0.99));
    return int64_t(rtts.size()) == o.iterations ? 0 : 1;
  }
  const double bytes = double(o.message_bytes) * double(o.messages);
  std::printf("udp (two processes, loopback, GSO/GRO %s): %lld x %s messages, MTU %lld, window %lld: %.2f GB/s, %.0f kpkt/s, "
              "CPU s sender %.2f receiver %.2f (wall %.2f), %llu sendmmsg calls, %llu would-block, receiver %s\n",
              o.gso ? "on" : "off", (long long)o.messages, core::ToString(core::Bytes(o.message_bytes)).c_str(),
              (long long)o.mtu, (long long)o.window, bytes / Seconds(t0, t1) / 1e9,
              double(stream.total_packets) / Seconds(t0, t1) / 1e3, cpu, child_cpu, Seconds(t0, t1),
              (unsigned long long)fabric.stats().send_syscalls, (unsigned long long)fabric.stats().send_would_block,
              WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0 ? "ok" : "FAILED");
  return acked >= stream.total_packets ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wire_bench: emu codec and fabric throughput"};
  Options o;
  std::string size = "1MiB";
  app.add_option("--size", size, "message size (inproc, udp)");
  app.add_option("--mtu", o.mtu, "payload bytes per packet")->check(CLI::Range(256, 4096));
  app.add_option("--messages", o.messages, "messages to send")->check(CLI::PositiveNumber);
  app.add_option("--window", o.window, "packets in flight")->check(CLI::PositiveNumber);
  app.add_option("--iterations", o.iterations, "codec iterations / latency round trips")->check(CLI::PositiveNumber);
  app.add_option("--runtime", o.runtime, "virtual or real (inproc)")->check(CLI::IsMember({"virtual", "real"}));
  bool no_gso = false;
  app.add_flag("--no-gso", no_gso, "udp: send and receive one datagram per message (no UDP GSO/GRO)");
  app.add_flag("--busy-poll", o.busy_poll, "udp, udp-lat: spin on the event loop instead of sleeping in epoll");
  app.require_subcommand(1);
  app.fallthrough();  // options may follow the subcommand
  auto* codec = app.add_subcommand("codec", "encode/decode/ICRC rates");
  auto* inproc = app.add_subcommand("inproc", "InProcFabric stream with two copies");
  auto* udp = app.add_subcommand("udp", "UdpFabric stream between two processes");
  auto* udp_lat = app.add_subcommand("udp-lat", "UdpFabric 8-byte ping-pong between two processes");
  CLI11_PARSE(app, argc, argv);
  auto bytes = core::ParseBytes(size);
  if (!bytes.ok() || bytes->count() <= 0) {
    std::fprintf(stderr, "wire_bench: error: bad --size '%s'\n", size.c_str());
    return 2;
  }
  o.message_bytes = bytes->count();
  o.gso = !no_gso;
  if (codec->parsed()) return Codec(o);
  if (inproc->parsed()) return InProc(o);
  if (udp->parsed()) return Udp(o, false);
  if (udp_lat->parsed()) return Udp(o, true);
  return 2;
}
