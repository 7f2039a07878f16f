// `s3rdma perf {write,read,send,atomic}`: a perftest-like benchmark of the software RDMA NIC.
//
// Like perftest's ib_write_bw / ib_write_lat: started without --connect it is the server,
// with --connect HOST[:PORT] the client; the two exchange QPN, PSN, GID, UDP port, rkey and
// buffer address (and the client's test parameters) as one text line each way over a TCP
// side channel, then run the test over the chosen fabric:
//   --fabric udp     real RoCEv2 datagrams between two processes (or hosts);
//   --fabric inproc  both sides in this process on the in-process fabric, measuring the
//                    engine's own speed on real time (no --connect needed).
// Bandwidth mode (default) keeps --qdepth operations in flight and reports peak / average
// GB/s and the message rate; --latency runs one operation at a time (WRITE and SEND as a
// ping-pong, reporting half the round trip as ib_write_lat / ib_send_lat do; READ and
// atomics post-to-completion) and reports min / typical (median) / average / p99 / p99.9.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/real_runtime.h"
#include "core/units.h"
#include "emu/inproc_fabric.h"
#include "emu/pcap.h"
#include "emu/udp_fabric.h"
#include "emu/verbs.h"

namespace s3rdma::cli {
namespace {

using boost::asio::ip::tcp;
using emu::WcStatus;

enum class Test { kWrite, kRead, kSend, kAtomic };

const char* TestName(Test t) {
  switch (t) {
    case Test::kWrite: return "write";
    case Test::kRead: return "read";
    case Test::kSend: return "send";
    case Test::kAtomic: return "atomic";
  }
  return "?";
}

const char* TestTitle(Test t) {
  switch (t) {
    case Test::kWrite: return "RDMA_Write";
    case Test::kRead: return "RDMA_Read";
    case Test::kSend: return "Send";
    case Test::kAtomic: return "Atomic FETCH_AND_ADD";
  }
  return "?";
}

struct PerfOptions {
  std::string test;
  std::string fabric = "udp";
  std::string connect;
  uint16_t port = 18515;
  std::string bind = "127.0.0.1";
  std::string size;  // default depends on the mode
  int64_t iters = 0;  // default depends on the mode
  uint32_t qdepth = 128;
  uint32_t mtu = 4096;
  std::string pcap;
  bool json = false;
  bool latency = false;
  double timeout_s = 60;
  // Spin instead of sleeping in epoll: by default in latency mode only (in bandwidth mode
  // packets come in batches, so a wake-up per batch is cheap, and a spinning process slows
  // its peer on a machine with fewer idle cores than spinners).
  std::optional<bool> busy_poll;
};

// Test parameters the client sends; the server runs what the client asks for.
struct Params {
  Test test = Test::kWrite;
  uint64_t size = 65536;
  uint64_t iters = 5000;
  uint32_t qdepth = 128;
  uint32_t mtu = 4096;
  bool latency = false;
};

// One side's connection information (perftest's "local address" line).
struct ConnInfo {
  uint32_t qpn = 0;
  uint32_t psn = 0;
  uint32_t ipv4 = 0;
  uint16_t udp_port = 0;
  uint32_t rkey = 0;
  uint64_t addr = 0;
  uint64_t size = 0;
};

std::string Serialize(const Params& p, const ConnInfo& c) {
  char line[512];
  std::snprintf(line, sizeof(line),
                "S3RDMA-PERF/1 test=%s size=%" PRIu64 " iters=%" PRIu64
                " qdepth=%u mtu=%u latency=%d qpn=%u psn=%u ip=%s udp=%u rkey=%u addr=%" PRIu64
                " len=%" PRIu64 "\n",
                TestName(p.test), p.size, p.iters, p.qdepth, p.mtu, p.latency ? 1 : 0, c.qpn,
                c.psn, emu::Ipv4ToString(c.ipv4).c_str(), c.udp_port, c.rkey, c.addr, c.size);
  return line;
}

core::Status Parse(const std::string& line, Params* p, ConnInfo* c) {
  std::istringstream in(line);
  std::string word;
  in >> word;
  if (word != "S3RDMA-PERF/1") {
    return core::Status::InvalidArgument("peer is not an s3rdma perf of this version");
  }
  int fields = 0;
  while (in >> word) {
    auto eq = word.find('=');
    if (eq == std::string::npos) return core::Status::InvalidArgument("bad field " + word);
    std::string k = word.substr(0, eq), v = word.substr(eq + 1);
    try {
      if (k == "test") {
        if (v == "write") p->test = Test::kWrite;
        else if (v == "read") p->test = Test::kRead;
        else if (v == "send") p->test = Test::kSend;
        else if (v == "atomic") p->test = Test::kAtomic;
        else return core::Status::InvalidArgument("unknown test " + v);
      } else if (k == "size") p->size = std::stoull(v);
      else if (k == "iters") p->iters = std::stoull(v);
      else if (k == "qdepth") p->qdepth = static_cast<uint32_t>(std::stoul(v));
      else if (k == "mtu") p->mtu = static_cast<uint32_t>(std::stoul(v));
      else if (k == "latency") p->latency = v == "1";
      else if (k == "qpn") c->qpn = static_cast<uint32_t>(std::stoul(v));
      else if (k == "psn") c->psn = static_cast<uint32_t>(std::stoul(v));
      else if (k == "ip") {
        auto ip = emu::ParseIpv4(v);
        if (!ip.ok()) return ip.status();
        c->ipv4 = *ip;
      } else if (k == "udp") c->udp_port = static_cast<uint16_t>(std::stoul(v));
      else if (k == "rkey") c->rkey = static_cast<uint32_t>(std::stoul(v));
      else if (k == "addr") c->addr = std::stoull(v);
      else if (k == "len") c->size = std::stoull(v);
      else continue;
    } catch (const std::exception&) {
      return core::Status::InvalidArgument("bad value in " + word);
    }
    ++fields;
  }
  if (fields < 13) return core::Status::InvalidArgument("incomplete connection line");
  return core::Status::Ok();
}

// One side of the test: device, PD, CQ, buffer, QP.
struct Side {
  std::unique_ptr<emu::Device> dev;
  std::unique_ptr<emu::ProtectionDomain> pd;
  std::unique_ptr<emu::CompletionQueue> cq;
  std::vector<uint8_t> storage;
  uint8_t* buf = nullptr;
  uint64_t buf_len = 0;
  std::unique_ptr<emu::MemoryRegion> mr;
  std::unique_ptr<emu::QueuePair> qp;
  uint32_t psn = 0;
  bool is_client = false;

  // After a bandwidth run: checks that the bytes this side received are the peer's. Returns
  // an empty string, or what is wrong. For atomics (server side) the counter must have been
  // incremented exactly `iters` times.
  std::string Verify(const Params& p) const {
    if (p.latency) return {};
    bool receiver = (p.test == Test::kRead) == is_client;
    if (!receiver) return {};
    if (p.test == Test::kAtomic) {
      uint64_t start = 0, now = 0;
      for (int i = 7; i >= 0; --i) start = start << 8 | Pattern(i, is_client);
      std::memcpy(&now, buf, 8);
      if (now != start + p.iters) {
        return "atomic counter is " + std::to_string(now - start) + " increments, expected " +
               std::to_string(p.iters);
      }
      return {};
    }
    for (uint64_t i = 0; i < p.size; ++i) {
      if (buf[i] != Pattern(i, !is_client)) {
        return "data mismatch at byte " + std::to_string(i);
      }
    }
    return {};
  }

  ~Side() {
    qp.reset();
    mr.reset();
    cq.reset();
    pd.reset();
    dev.reset();
  }

  // The byte pattern each side's buffer starts with; the two sides differ at every byte, so
  // the receiving side can check that what arrived is exactly what was sent.
  static uint8_t Pattern(uint64_t i, bool client) {
    return static_cast<uint8_t>(i * 131 + 7 + (client ? 0 : 101));
  }

  core::Status Open(emu::Fabric& fabric, const emu::NodeAddress& addr, const Params& p,
                    uint32_t psn_seed, bool client) {
    is_client = client;
    auto d = emu::Device::Open(fabric, addr, {.max_unacked_psns = 512, .packets_per_ack_req = 64});
    if (!d.ok()) return d.status();
    dev = std::move(d).value();
    pd = std::move(dev->AllocPd()).value();
    uint32_t depth = std::max<uint32_t>(p.qdepth, 1);
    auto c = dev->CreateCq(static_cast<int>(std::min<uint64_t>(depth * 4 + 64, emu::kMaxCqe)));
    if (!c.ok()) return c.status();
    cq = std::move(c).value();
    // Two halves: what this side sends from / reads into, and what the peer writes into
    // during the WRITE latency ping-pong.
    buf_len = 2 * std::max<uint64_t>(p.size, 64);
    storage.assign(buf_len + 4096, 0);
    buf = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(storage.data()) + 4095) & ~uintptr_t{4095});
    for (uint64_t i = 0; i < buf_len; ++i) buf[i] = Pattern(i, client);
    auto m = pd->RegisterMemory(buf, buf_len,
                                emu::kAccessLocalWrite | emu::kAccessRemoteWrite |
                                    emu::kAccessRemoteRead | emu::kAccessRemoteAtomic);
    if (!m.ok()) return m.status();
    mr = std::move(m).value();
    emu::QpInitAttr init;
    init.send_cq = cq.get();
    init.recv_cq = cq.get();
    init.cap.max_send_wr = std::min<uint32_t>(depth, emu::kMaxQpWr);
    init.cap.max_recv_wr = std::min<uint32_t>(depth * 2, emu::kMaxQpWr);
    init.cap.max_send_sge = 1;
    init.cap.max_recv_sge = 1;
    init.cap.max_inline_data = 64;
    auto q = pd->CreateQp(init);
    if (!q.ok()) return q.status();
    qp = std::move(q).value();
    psn = (psn_seed * 2654435761u) & emu::kPsnMask;
    return core::Status::Ok();
  }

  ConnInfo Local() const {
    return ConnInfo{qp->qp_num(), psn, dev->address().ipv4, dev->address().udp_port,
                    mr->rkey(), reinterpret_cast<uint64_t>(buf), buf_len};
  }

  core::Status Connect(const ConnInfo& remote, const Params& p) {
    emu::QpAttr a;
    a.qp_state = emu::QpState::kInit;
    a.qp_access_flags = emu::kAccessRemoteWrite | emu::kAccessRemoteRead | emu::kAccessRemoteAtomic;
    if (qp->Modify(a, emu::kQpAttrState | emu::kQpAttrAccessFlags)) {
      return core::Status::Internal("modify to INIT failed");
    }
    a.path_mtu = static_cast<emu::Mtu>(__builtin_ctz(p.mtu) - 7);
    a.dest_qp_num = remote.qpn;
    a.dest_gid = emu::GidFromIpv4(remote.ipv4);
    a.dest_udp_port = remote.udp_port;
    a.rq_psn = remote.psn;
    a.max_dest_rd_atomic = 16;
    a.min_rnr_timer = 1;  // 10 us: a receiver that falls behind is retried quickly
    a.sq_psn = psn;
    a.timeout = 14;  // perftest's default: ~67 ms
    a.retry_cnt = 7;
    a.rnr_retry = 7;
    a.max_rd_atomic = 16;
    emu::QpState failed_at = emu::QpState::kRtr;
    if (emu::ConnectRcQp(*qp, a, &failed_at) != 0) {
      return failed_at == emu::QpState::kRtr
                 ? core::Status::InvalidArgument("modify to RTR failed (bad peer QPN/GID/MTU?)")
                 : core::Status::Internal("modify to RTS failed");
    }
    return core::Status::Ok();
  }
};

struct Results {
  bool ok = true;
  std::string error;
  // Bandwidth.
  double bw_peak_gbs = 0;
  double bw_avg_gbs = 0;
  double msg_rate_mpps = 0;
  // Latency, microseconds.
  std::vector<double> samples_us;
  uint64_t retransmits = 0;
  uint64_t timeouts = 0;
};

// Drives one side. Everything runs on the runtime's thread; a busy-polling task re-posts
// itself (as perftest busy-polls its CQ) until the side is done.
class Driver {
 public:
  Driver(core::Runtime& rt, Side& side, const ConnInfo& remote, const Params& p, bool client)
      : rt_(rt), s_(side), remote_(remote), p_(p), client_(client) {}

  bool done() const { return done_; }
  const Results& results() const { return res_; }
  // Called once this side has finished; the server's may be triggered from outside.
  std::function<void()> on_done;

  void Start() {
    cq_mod_ = p_.latency ? 1 : std::max<uint32_t>(1, std::min<uint32_t>(p_.qdepth / 4, 32));
    if (p_.test == Test::kSend && (!client_ || p_.latency)) {
      uint32_t n = p_.latency ? 4 : std::min<uint32_t>(p_.qdepth * 2, emu::kMaxQpWr);
      for (uint32_t i = 0; i < n; ++i) PostRecv();
    }
    s_.buf[2 * p_.size - 1] = 0;  // the latency marker
    // A passive server (WRITE/READ/atomic bandwidth, READ/atomic latency) has nothing to
    // do: the client's operations complete in its NIC; it ends when the client says so.
    bool active = client_ || p_.test == Test::kSend || (p_.latency && p_.test == Test::kWrite);
    if (!active) return;
    start_ = rt_.Now();
    if (p_.latency) {
      Schedule();  // busy-poll, as perftest's latency tests do
    } else {
      // Bandwidth: woken by completions (a completion channel), so the engine gets the CPU.
      s_.cq->SetCompletionHandler([this] { OnCompletions(); });
      s_.cq->RequestNotify();
      rt_.Post([this] { OnCompletions(); });
    }
  }

  void Finish(std::string error = {}) {
    if (done_) return;
    done_ = true;
    if (!error.empty()) {
      res_.ok = false;
      res_.error = std::move(error);
    }
    res_.retransmits = s_.qp->stats().retransmitted_packets;
    res_.timeouts = s_.qp->stats().timeouts;
    if (on_done) on_done();
  }

 private:
  void OnCompletions() {
    if (done_) return;
    Tick();
    if (done_) return;
    s_.cq->RequestNotify();
    if (s_.cq->size() > 0) rt_.Post([this] { OnCompletions(); });
  }

  void Schedule() {
    rt_.Post([this] {
      if (done_) return;
      Tick();
      if (!done_) Schedule();
    });
  }

  static uint8_t Marker(uint64_t k) { return static_cast<uint8_t>(k % 255 + 1); }

  void PostRecv() {
    emu::Sge sge{reinterpret_cast<uint64_t>(s_.buf), static_cast<uint32_t>(p_.size), s_.mr->lkey()};
    if (s_.qp->PostRecv({0, {&sge, 1}}) != 0) Finish("post_recv failed");
  }

  int PostOne(bool signaled) {
    emu::SendWr wr;
    wr.wr_id = posted_;
    wr.send_flags = signaled ? emu::kSendSignaled : 0;
    uint32_t len = p_.test == Test::kAtomic ? 8 : static_cast<uint32_t>(p_.size);
    emu::Sge sge{reinterpret_cast<uint64_t>(s_.buf), len, s_.mr->lkey()};
    wr.sg_list = {&sge, 1};
    switch (p_.test) {
      case Test::kWrite: wr.opcode = emu::WrOpcode::kRdmaWrite; break;
      case Test::kRead: wr.opcode = emu::WrOpcode::kRdmaRead; break;
      case Test::kSend: wr.opcode = emu::WrOpcode::kSend; break;
      case Test::kAtomic: wr.opcode = emu::WrOpcode::kAtomicFetchAndAdd; break;
    }
    if (len <= 64 && (p_.test == Test::kWrite || p_.test == Test::kSend)) {
      wr.send_flags |= emu::kSendInline;
    }
    // WRITE latency targets the peer's receive half (see LatencyTick).
    wr.rdma.remote_addr = remote_.addr + (p_.latency && p_.test == Test::kWrite ? p_.size : 0);
    wr.rdma.rkey = remote_.rkey;
    wr.atomic.remote_addr = remote_.addr;
    wr.atomic.rkey = remote_.rkey;
    wr.atomic.compare_add = 1;
    return s_.qp->PostSend(wr);
  }

  // Drains the CQ; returns false (and finishes) on an error completion.
  bool PollCq() {
    emu::WorkCompletion wcs[64];
    int n;
    while ((n = s_.cq->Poll(wcs)) > 0) {
      for (int i = 0; i < n; ++i) {
        const auto& wc = wcs[i];
        if (wc.status != WcStatus::kSuccess) {
          Finish(std::string("completion with status ") + emu::WcStatusName(wc.status) +
                 " (opcode " + emu::WcOpcodeName(wc.opcode) + ")");
          return false;
        }
        if (wc.opcode == emu::WcOpcode::kRecv) {
          ++received_;
          if (!p_.latency) PostRecv();
        } else {
          completed_ = std::min<uint64_t>(wc.wr_id + 1, posted_);
          if (!p_.latency) {
            tcompleted_.push_back(rt_.Now());
          }
        }
      }
    }
    return true;
  }

  void Tick() {
    if (!PollCq()) return;
    if (p_.latency) {
      LatencyTick();
    } else {
      BandwidthTick();
    }
  }

  void BandwidthTick() {
    if (!client_) {
      // SEND server: counts receives, re-posts them (in PollCq).
      if (received_ >= p_.iters) Finish();
      return;
    }
    if (completed_ >= p_.iters) {
      core::Duration total = tcompleted_.back() - start_;
      double secs = total.ToSeconds();
      res_.bw_avg_gbs = secs > 0 ? double(p_.size) * p_.iters / secs / 1e9 : 0;
      res_.msg_rate_mpps = secs > 0 ? p_.iters / secs / 1e6 : 0;
      res_.bw_peak_gbs = PeakBandwidth();
      Finish();
      return;
    }
    while (posted_ < p_.iters && posted_ - completed_ < p_.qdepth) {
      bool signaled = (posted_ + 1) % cq_mod_ == 0 || posted_ + 1 == p_.iters;
      if (signaled) tposted_.push_back(rt_.Now());
      if (posted_ == 0) start_ = rt_.Now();
      int rc = PostOne(signaled);
      if (rc == ENOMEM) break;
      if (rc != 0) {
        Finish("post_send failed: " + std::string(std::strerror(rc)));
        return;
      }
      ++posted_;
    }
  }

  // perftest's peak: the best rate over any run of consecutive signalled groups,
  // (j - i + 1) groups completing between the post of group i and the completion of j.
  double PeakBandwidth() const {
    size_t n = std::min(tposted_.size(), tcompleted_.size());
    if (n == 0) return 0;
    double best = 0;
    size_t step = std::max<size_t>(1, n / 2000);  // keeps this O(4M) for long runs
    for (size_t i = 0; i < n; i += step) {
      for (size_t j = i; j < n; j += step) {
        double secs = (tcompleted_[j] - tposted_[i]).ToSeconds();
        if (secs <= 0) continue;
        double bytes = double(j - i + 1) * cq_mod_ * p_.size;
        best = std::max(best, bytes / secs / 1e9);
      }
    }
    return best;
  }

  void LatencyTick() {
    switch (p_.test) {
      case Test::kWrite: {
        // Ping-pong through memory, as ib_write_lat: the client writes iteration k's marker
        // into the last byte of the server's receive half; the server, seeing it, writes it
        // back; the client, seeing it, has one round trip. Markers cycle through 1..255.
        volatile uint8_t* seen = s_.buf + 2 * p_.size - 1;
        if (client_) {
          if (exchanged_ > 0) {
            if (*seen != Marker(exchanged_)) return;
            res_.samples_us.push_back((rt_.Now() - t0_).ToSeconds() * 1e6 / 2);
          }
          if (exchanged_ >= p_.iters) return Finish();
          t0_ = rt_.Now();
        } else {
          if (exchanged_ >= p_.iters || *seen != Marker(exchanged_ + 1)) return;
        }
        ++exchanged_;
        s_.buf[p_.size - 1] = Marker(exchanged_);
        if (PostOne(true) != 0) return Finish("post_send failed");
        ++posted_;
        if (!client_ && exchanged_ >= p_.iters) Finish();
        return;
      }
      case Test::kSend: {
        if (received_ > 0 && posted_ == completed_ && !client_) {
          // Server: answer each receive with a send.
          if (received_ > exchanged_) {
            PostRecv();
            if (PostOne(true) != 0) return Finish("post_send failed");
            ++posted_;
            ++exchanged_;
            if (exchanged_ >= p_.iters) Finish();
          }
          return;
        }
        if (!client_) return;
        if (exchanged_ > 0 && received_ < exchanged_) return;
        core::Time now = rt_.Now();
        if (exchanged_ > 0) {
          res_.samples_us.push_back((now - t0_).ToSeconds() * 1e6 / 2);
          PostRecv();
        }
        if (exchanged_ >= p_.iters) return Finish();
        t0_ = now;
        if (PostOne(true) != 0) return Finish("post_send failed");
        ++posted_;
        ++exchanged_;
        return;
      }
      default: {
        // READ / atomic: one at a time, post to completion.
        if (posted_ > completed_) return;
        core::Time now = rt_.Now();
        if (posted_ > 0) res_.samples_us.push_back((now - t0_).ToSeconds() * 1e6);
        if (posted_ >= p_.iters) return Finish();
        t0_ = now;
        if (PostOne(true) != 0) return Finish("post_send failed");
        ++posted_;
      }
    }
  }

  core::Runtime& rt_;
  Side& s_;
  ConnInfo remote_;
  Params p_;
  bool client_;
  bool done_ = false;
  uint32_t cq_mod_ = 1;
  uint64_t posted_ = 0;
  uint64_t completed_ = 0;
  uint64_t received_ = 0;
  uint64_t exchanged_ = 0;
  core::Time start_;
  core::Time t0_;
  std::vector<core::Time> tposted_;
  std::vector<core::Time> tcompleted_;
  Results res_;
};

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t idx = static_cast<size_t>(q * double(sorted.size() - 1) + 0.5);
  return sorted[std::min(idx, sorted.size() - 1)];
}

void Report(const PerfOptions& o, const Params& p, const Results& r, const char* fabric) {
  // CPU time of this process (both sides for inproc): on a shared machine, wall-clock rates
  // also measure the neighbours; bytes per CPU-second do not.
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const double user_s = double(ru.ru_utime.tv_sec) + double(ru.ru_utime.tv_usec) * 1e-6;
  const double sys_s = double(ru.ru_stime.tv_sec) + double(ru.ru_stime.tv_usec) * 1e-6;
  std::vector<double> s = r.samples_us;
  std::sort(s.begin(), s.end());
  double avg = 0;
  for (double v : s) avg += v;
  if (!s.empty()) avg /= double(s.size());
  if (o.json) {
    nlohmann::json j;
    j["test"] = TestName(p.test);
    j["mode"] = p.latency ? "latency" : "bandwidth";
    j["fabric"] = fabric;
    j["size_bytes"] = p.size;
    j["iterations"] = p.iters;
    j["qdepth"] = p.qdepth;
    j["mtu_bytes"] = p.mtu;
    j["retransmitted_packets"] = r.retransmits;
    j["timeouts"] = r.timeouts;
    j["cpu_user_s"] = user_s;
    j["cpu_sys_s"] = sys_s;
    if (p.latency) {
      j["t_min_us"] = s.empty() ? 0 : s.front();
      j["t_max_us"] = s.empty() ? 0 : s.back();
      j["t_typical_us"] = Percentile(s, 0.5);
      j["t_avg_us"] = avg;
      j["t_p99_us"] = Percentile(s, 0.99);
      j["t_p999_us"] = Percentile(s, 0.999);
    } else {
      j["bw_peak_gbytes_per_s"] = r.bw_peak_gbs;
      j["bw_avg_gbytes_per_s"] = r.bw_avg_gbs;
      j["msg_rate_mpps"] = r.msg_rate_mpps;
    }
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  const char* line =
      "---------------------------------------------------------------------------------------";
  std::printf("%s\n", line);
  std::printf("                    %s %s Test (s3rdma software RoCEv2)\n", TestTitle(p.test),
              p.latency ? "Latency" : "BW");
  std::printf(" Number of qps   : 1\t\tTransport type : RC over %s fabric\n", fabric);
  std::printf(" Mtu             : %u[B]\n", p.mtu);
  std::printf(" TX depth        : %u\n", p.latency ? 1 : p.qdepth);
  std::printf(" Retransmitted   : %" PRIu64 " packets (%" PRIu64 " timeouts)\n", r.retransmits,
              r.timeouts);
  std::printf(" CPU (process)   : %.2f s user, %.2f s sys\n", user_s, sys_s);
  std::printf("%s\n", line);
  if (p.latency) {
    std::printf(" #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    "
                "t_avg[usec]    99%% percentile[usec]   99.9%% percentile[usec]\n");
    std::printf(" %-6" PRIu64 " %-10zu     %-10.2f     %-10.2f   %-10.2f       %-10.2f     "
                "%-10.2f              %-10.2f\n",
                p.size, s.size(), s.empty() ? 0 : s.front(), s.empty() ? 0 : s.back(),
                Percentile(s, 0.5), avg, Percentile(s, 0.99), Percentile(s, 0.999));
  } else {
    std::printf(" #bytes     #iterations    BW peak[GB/sec]    BW average[GB/sec]   "
                "MsgRate[Mpps]\n");
    std::printf(" %-10" PRIu64 " %-10" PRIu64 "     %-10.3f         %-10.3f           %-10.6f\n",
                p.size, p.iters, r.bw_peak_gbs, r.bw_avg_gbs, r.msg_rate_mpps);
  }
  std::printf("%s\n", line);
}

core::Status ValidateParams(const Params& p) {
  if (p.size < 1 || p.size > emu::kMaxMsgSize) {
    return core::Status::InvalidArgument("--size must be 1 B .. 2 GiB");
  }
  if (p.iters < 1 || p.iters > 100'000'000) {
    return core::Status::InvalidArgument("--iters must be 1..100000000");
  }
  if (p.qdepth < 1 || p.qdepth > 8192) return core::Status::InvalidArgument("--qdepth must be 1..8192");
  if (p.mtu < 256 || p.mtu > 4096 || (p.mtu & (p.mtu - 1))) {
    return core::Status::InvalidArgument("--mtu must be 256, 512, 1024, 2048 or 4096");
  }
  if (p.test == Test::kWrite && p.latency && p.size < 1) {
    return core::Status::InvalidArgument("write latency needs --size >= 1");
  }
  return core::Status::Ok();
}

// Both sides in this process, on the in-process fabric, in real time.
int RunInProc(const PerfOptions& o, const Params& p) {
  core::RealRuntime rt;
  emu::InProcFabric inproc(rt);
  std::unique_ptr<emu::PcapCapture> capture;
  emu::Fabric* fabric = &inproc;
  if (!o.pcap.empty()) {
    auto w = emu::PcapWriter::Open(o.pcap);
    if (!w.ok()) return Fail(w.status().message(), 1);
    capture = std::make_unique<emu::PcapCapture>(inproc, std::shared_ptr<emu::PcapWriter>(std::move(w).value()));
    fabric = capture.get();
  }
  Side server, client;
  if (auto st = server.Open(*fabric, {emu::Ipv4(10, 0, 0, 1), emu::kRoceUdpPort}, p, 1, false); !st.ok()) {
    return Fail(st.message(), 1);
  }
  if (auto st = client.Open(*fabric, {emu::Ipv4(10, 0, 0, 2), emu::kRoceUdpPort}, p, 2, true); !st.ok()) {
    return Fail(st.message(), 1);
  }
  ConnInfo si = server.Local(), ci = client.Local();
  if (auto st = server.Connect(ci, p); !st.ok()) return Fail(st.message(), 1);
  if (auto st = client.Connect(si, p); !st.ok()) return Fail(st.message(), 1);
  Driver sd(rt, server, ci, p, false), cd(rt, client, si, p, true);
  bool timed_out = false;
  cd.on_done = [&] {
    sd.Finish();
    rt.Stop();
  };
  sd.on_done = [&] {
    if (!sd.results().ok) rt.Stop();
  };
  sd.Start();
  cd.Start();
  auto guard = rt.After(core::Duration::Milliseconds(static_cast<int64_t>(o.timeout_s * 1000)), [&] {
    timed_out = true;
    rt.Stop();
  });
  rt.Run();
  guard.Cancel();
  if (timed_out) return Fail("timed out after " + std::to_string(o.timeout_s) + " s", 1);
  if (!cd.results().ok) return Fail("client: " + cd.results().error, 1);
  if (!sd.results().ok) return Fail("server: " + sd.results().error, 1);
  for (const Side* side : {&server, &client}) {
    if (std::string err = side->Verify(p); !err.empty()) return Fail(err, 1);
  }
  Report(o, p, cd.results(), "inproc");
  return 0;
}

// Two processes over UDP; this is one of them.
int RunUdp(const PerfOptions& o, Params p) {
  const bool client = !o.connect.empty();
  auto bind_ip = emu::ParseIpv4(o.bind);
  if (!bind_ip.ok()) return Fail("--bind: " + bind_ip.status().message(), 2);
  core::RealRuntime rt;
  emu::UdpFabric udp(rt);
  std::unique_ptr<emu::PcapCapture> capture;
  emu::Fabric* fabric = &udp;
  if (!o.pcap.empty()) {
    auto w = emu::PcapWriter::Open(o.pcap);
    if (!w.ok()) return Fail(w.status().message(), 1);
    capture = std::make_unique<emu::PcapCapture>(udp, std::shared_ptr<emu::PcapWriter>(std::move(w).value()));
    fabric = capture.get();
  }
  boost::asio::io_context& io = rt.io();
  tcp::socket sock(io);
  boost::system::error_code ec;
  try {
    if (client) {
      std::string host = o.connect;
      std::string port = std::to_string(o.port);
      if (auto colon = host.rfind(':'); colon != std::string::npos) {
        port = host.substr(colon + 1);
        host = host.substr(0, colon);
        auto n = core::ParseCount(port);
        if (!n.ok() || *n < 1 || *n > 65535) {
          return Fail("--connect: bad port '" + port + "' (expected HOST[:1..65535])", 2);
        }
      }
      if (host.empty()) return Fail("--connect: missing host (expected HOST[:PORT])", 2);
      tcp::resolver resolver(io);
      auto eps = resolver.resolve(host, port, ec);
      if (ec) return Fail("cannot resolve " + o.connect + ": " + ec.message(), 1);
      // Retries for a while, so a client started right after its server still connects.
      auto deadline = std::chrono::steady_clock::now() +
                      std::chrono::milliseconds(static_cast<int64_t>(std::min(10.0, o.timeout_s) * 1000));
      for (;;) {
        boost::asio::connect(sock, eps, ec);
        if (!ec || std::chrono::steady_clock::now() > deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (ec) return Fail("cannot connect to " + o.connect + ": " + ec.message(), 1);
    } else {
      tcp::acceptor acc(io);
      tcp::endpoint ep(boost::asio::ip::make_address(o.bind, ec), o.port);
      if (ec) return Fail("--bind: " + ec.message(), 2);
      acc.open(ep.protocol());
      acc.set_option(tcp::acceptor::reuse_address(true));
      acc.bind(ep, ec);
      if (ec) return Fail("cannot listen on " + o.bind + ":" + std::to_string(o.port) + ": " + ec.message(), 1);
      acc.listen();
      std::fprintf(stderr, "s3rdma perf: waiting for a client on %s:%u (tcp)\n", o.bind.c_str(),
                   acc.local_endpoint().port());
      acc.accept(sock, ec);
      if (ec) return Fail("accept: " + ec.message(), 1);
    }
    sock.set_option(tcp::no_delay(true));
  } catch (const boost::system::system_error& e) {
    return Fail(std::string("side channel: ") + e.what(), 1);
  }

  boost::asio::streambuf inbuf;
  auto read_line = [&](std::string* line) -> bool {
    size_t n = boost::asio::read_until(sock, inbuf, '\n', ec);
    if (ec) return false;
    line->assign(boost::asio::buffers_begin(inbuf.data()),
                 boost::asio::buffers_begin(inbuf.data()) + n);
    inbuf.consume(n);
    return true;
  };
  Side side;
  // RoCEv2 peers use UDP port 4791, and tshark dissects RoCE by that port; a second
  // process on the same address (both ends on one host) falls back to a free port.
  auto open_side = [&](bool is_client) {
    const auto pid = static_cast<uint32_t>(::getpid());
    core::Status st = side.Open(*fabric, {*bind_ip, emu::kRoceUdpPort}, p, pid, is_client);
    if (!st.ok()) st = side.Open(*fabric, {*bind_ip, 0}, p, pid, is_client);
    return st;
  };
  ConnInfo remote;
  std::string line;
  if (client) {
    if (auto st = open_side(true); !st.ok()) {
      return Fail(st.message(), 1);
    }
    boost::asio::write(sock, boost::asio::buffer(Serialize(p, side.Local())), ec);
    if (ec || !read_line(&line)) return Fail("side channel: " + ec.message(), 1);
    Params sp;
    if (auto st = Parse(line, &sp, &remote); !st.ok()) return Fail("server: " + st.message(), 1);
    if (auto st = side.Connect(remote, p); !st.ok()) return Fail(st.message(), 1);
  } else {
    if (!read_line(&line)) return Fail("side channel: " + ec.message(), 1);
    Params cp;
    if (auto st = Parse(line, &cp, &remote); !st.ok()) return Fail("client: " + st.message(), 1);
    if (cp.test != p.test) {
      return Fail(std::string("client runs '") + TestName(cp.test) + "', this server '" +
                      TestName(p.test) + "'", 1);
    }
    p = cp;  // the client decides the parameters, the server follows
    if (auto st = ValidateParams(p); !st.ok()) return Fail("client: " + st.message(), 1);
    if (auto st = open_side(false); !st.ok()) {
      return Fail(st.message(), 1);
    }
    if (auto st = side.Connect(remote, p); !st.ok()) return Fail(st.message(), 1);
  }
  Driver d(rt, side, remote, p, client);
  bool timed_out = false;
  bool peer_done = false;
  std::string peer_error;
  // The server finishes when the client reports (or drops the side channel).
  boost::asio::async_read_until(sock, inbuf, '\n', [&](boost::system::error_code e, size_t n) {
    peer_done = true;
    if (e) {
      peer_error = "side channel closed: " + e.message();
    } else {
      std::string msg(boost::asio::buffers_begin(inbuf.data()),
                      boost::asio::buffers_begin(inbuf.data()) + n);
      if (msg != "done ok\n") peer_error = "it reported a failure";
    }
    if (!client) d.Finish();
    rt.Stop();
  });
  d.on_done = [&] {
    if (client) rt.Stop();
  };
  if (!client) {
    d.Start();  // post receives before the client may send
    boost::asio::write(sock, boost::asio::buffer(Serialize(p, side.Local())), ec);
    if (ec) return Fail("side channel: " + ec.message(), 1);
  } else {
    d.Start();
  }
  auto guard = rt.After(core::Duration::Milliseconds(static_cast<int64_t>(o.timeout_s * 1000)), [&] {
    timed_out = true;
    rt.Stop();
  });
  auto finished = [&] {
    return timed_out || (client ? d.done() || peer_done : peer_done);
  };
  while (!finished()) {
    if (o.busy_poll.value_or(p.latency)) {
      // Like perftest, spin instead of sleeping in epoll: a sleeping process pays a
      // scheduler wake-up (microseconds, milliseconds on a loaded machine) per batch.
      io.restart();
      while (!finished() && !io.stopped()) io.poll();
    } else {
      rt.Run();
    }
    if (client && peer_done && !d.done()) {
      d.Finish("server went away (" + peer_error + ")");
    }
  }
  guard.Cancel();
  if (client) {
    std::string msg = d.results().ok ? "done ok\n" : "done error\n";
    boost::asio::write(sock, boost::asio::buffer(msg), ec);
  }
  sock.close(ec);
  if (timed_out) return Fail("timed out after " + std::to_string(o.timeout_s) + " s", 1);
  if (!client && !peer_error.empty()) return Fail("client went away (" + peer_error + ")", 1);
  if (!d.results().ok) return Fail(d.results().error, 1);
  if (std::string err = side.Verify(p); !err.empty()) return Fail(err, 1);
  if (client) Report(o, p, d.results(), "udp");
  else std::fprintf(stderr, "s3rdma perf: server done%s\n", p.latency ? "" : ", received data verified");
  return 0;
}

int RunPerf(const PerfOptions& o) {
  Params p;
  if (o.test == "write") p.test = Test::kWrite;
  else if (o.test == "read") p.test = Test::kRead;
  else if (o.test == "send") p.test = Test::kSend;
  else if (o.test == "atomic") p.test = Test::kAtomic;
  else return Fail("unknown test '" + o.test + "' (write, read, send, atomic)", 2);
  p.latency = o.latency;
  if (o.size.empty()) {
    p.size = p.latency ? 2 : 65536;
  } else {
    auto b = core::ParseBytes(o.size);
    if (!b.ok()) return Fail("--size: " + b.status().message(), 2);
    if (b->count() < 1) return Fail("--size must be at least 1 byte", 2);
    p.size = static_cast<uint64_t>(b->count());
  }
  if (p.test == Test::kAtomic) p.size = 8;
  p.iters = o.iters > 0 ? static_cast<uint64_t>(o.iters) : (p.latency ? 1000 : 5000);
  if (o.iters < 0) return Fail("--iters must be positive", 2);
  p.qdepth = o.qdepth;
  p.mtu = o.mtu;
  if (auto st = ValidateParams(p); !st.ok()) return Fail(st.message(), 2);
  if (o.timeout_s <= 0 || o.timeout_s > 86400) return Fail("--timeout must be in (0, 86400] s", 2);
  if (o.fabric == "inproc") {
    if (!o.connect.empty()) return Fail("--connect needs --fabric udp", 2);
    return RunInProc(o, p);
  }
  if (o.fabric == "udp") return RunUdp(o, p);
  return Fail("--fabric must be inproc or udp", 2);
}

}  // namespace

void AddPerfCommand(CLI::App& app, CommandRunner& run) {
  auto opts = std::make_shared<PerfOptions>();
  CLI::App* cmd = app.add_subcommand(
      "perf",
      "Benchmark the software RDMA NIC like perftest (ib_write_bw, ib_write_lat, ...): "
      "server without --connect, client with --connect HOST[:PORT]");
  cmd->add_option("test", opts->test, "write, read, send or atomic")
      ->required()
      ->check(CLI::IsMember({"write", "read", "send", "atomic"}));
  cmd->add_option("--fabric", opts->fabric, "udp (two processes) or inproc (one process)")
      ->check(CLI::IsMember({"udp", "inproc"}));
  cmd->add_option("--connect", opts->connect, "client mode: the server's HOST[:PORT] (TCP side channel)");
  cmd->add_option("--port", opts->port, "TCP side-channel port (default 18515, like perftest)");
  cmd->add_option("--bind", opts->bind, "local IPv4 address for RoCEv2 (and the server's TCP listener)");
  cmd->add_option("--size,-s", opts->size, "message size, e.g. 8, 64KiB, 1MiB (default 65536; 2 with --latency)");
  cmd->add_option("--iters,-n", opts->iters, "iterations (default 5000; 1000 with --latency)");
  cmd->add_option("--qdepth,--tx-depth,-t", opts->qdepth, "operations in flight (default 128)");
  cmd->add_option("--mtu,-m", opts->mtu, "path MTU: 256, 512, 1024, 2048, 4096 (default 4096)");
  cmd->add_option("--pcap", opts->pcap, "write every RoCEv2 packet to this pcap file");
  cmd->add_option("--timeout", opts->timeout_s, "give up a connected run after this many seconds (default 60; a server waits for its client indefinitely, like perftest)");
  cmd->add_flag("--json", opts->json, "print the result as JSON");
  cmd->add_flag_callback("--busy-poll", [opts] { opts->busy_poll = true; },
                         "udp: spin a core polling the socket and CQ, like perftest (default "
                         "with --latency)");
  cmd->add_flag_callback("--no-busy-poll", [opts] { opts->busy_poll = false; },
                         "udp: sleep in epoll between packets (default for bandwidth)");
  cmd->add_flag("--latency", opts->latency, "measure latency instead of bandwidth");
  cmd->callback([opts, &run] { run = [opts] { return RunPerf(*opts); }; });
}

}  // namespace s3rdma::cli
