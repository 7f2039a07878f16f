// A virtual-time world for the RDMA server tests: one S3Service + RdmaServer on an
// in-process fabric (seeded faults), and a hand-driven client (its own emu Device, PD, CQ,
// RC QPs and one registered buffer) that speaks docs/protocol.md byte for byte. The client
// is deliberately low level so tests can send every hostile variant of the protocol.
#ifndef S3RDMA_TESTS_UNIT_PROTO_RDMA_TEST_WORLD_H_
#define S3RDMA_TESTS_UNIT_PROTO_RDMA_TEST_WORLD_H_

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/rng.h"
#include "core/virtual_runtime.h"
#include "emu/inproc_fabric.h"
#include "emu/verbs.h"
#include "proto/fs_store.h"
#include "proto/hash.h"
#include "proto/memory_store.h"
#include "proto/rdma_server.h"
#include "proto/rdma_token.h"
#include "proto/s3_service.h"
#include "proto/sigv4.h"

namespace s3rdma::proto::testing {

inline constexpr int64_t kEpoch = 1700000000;
inline const Credential kCred{"AKIDRDMA", "rdma-secret"};
inline const Credential kOtherCred{"AKIDOTHER", "other-secret"};

struct WorldOptions {
  bool fs_store = false;
  bool with_rdma = true;
  emu::FaultConfig faults;
  uint64_t seed = 1;
  RdmaServerOptions rdma;
  size_t client_buffer_bytes = 16 << 20;
};

inline const char* Hdr(const S3Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v.c_str();
  }
  return nullptr;
}
inline std::string HdrOr(const S3Response& r, std::string_view name) {
  const char* v = Hdr(r, name);
  return v ? v : "<none>";
}
// The <Code> of an S3 error body.
inline std::string ErrorCode(const S3Response& r) {
  const size_t a = r.body.find("<Code>"), b = r.body.find("</Code>");
  if (a == std::string::npos || b == std::string::npos) return "";
  return r.body.substr(a + 6, b - a - 6);
}

inline std::string RandomBytes(core::Rng& rng, size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(rng.NextU64() & 0xff);
  return s;
}

class RdmaWorld {
 public:
  struct ClientQp {
    std::unique_ptr<emu::QueuePair> qp;
    uint32_t psn = 0;
  };

  explicit RdmaWorld(WorldOptions o = {})
      : opts_(std::move(o)),
        fabric_(rt_, FabricConfig(opts_)),
        rng_(opts_.seed) {
    server_dev_ = Must(emu::Device::Open(fabric_, {emu::Ipv4(10, 0, 0, 1), emu::kRoceUdpPort}));
    client_dev_ = Must(emu::Device::Open(fabric_, {emu::Ipv4(10, 0, 0, 2), emu::kRoceUdpPort}));
    if (opts_.fs_store) {
      dir_ = std::filesystem::temp_directory_path() /
             ("s3rdma-rdma-test-" + std::to_string(::getpid()) + "-" + std::to_string(opts_.seed) +
              "-" + std::to_string(reinterpret_cast<uintptr_t>(this)));
      std::filesystem::remove_all(dir_);
      store_ = Must(FsStore::Open(dir_.string(), opts_.seed));
    } else {
      store_ = std::make_unique<MemoryStore>(opts_.seed);
    }
    ServiceConfig sc;
    sc.unix_time_at_runtime_zero = kEpoch;
    sc.min_part_bytes = 4;
    CredentialStore creds;
    creds.Add(kCred);
    creds.Add(kOtherCred);
    service_ = std::make_unique<S3Service>(sc, *store_, creds, rt_);
    if (opts_.with_rdma) {
      rdma_ = Must(RdmaServer::Create(*server_dev_, opts_.rdma));
      service_->SetRdmaServer(rdma_.get());
    }
    pd_ = Must(client_dev_->AllocPd());
    cq_ = Must(client_dev_->CreateCq(4096));
    buf_.assign(opts_.client_buffer_bytes, '\0');
    mr_ = Must(pd_->RegisterMemory(buf_.data(), buf_.size(),
                                   emu::kAccessLocalWrite | emu::kAccessRemoteWrite |
                                       emu::kAccessRemoteRead));
  }

  ~RdmaWorld() {
    service_->SetRdmaServer(nullptr);
    qps_.clear();
    mr_.reset();
    cq_.reset();
    pd_.reset();
    service_.reset();
    rdma_.reset();
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  template <typename T>
  static T Must(core::Result<T> r) {
    S3_CHECK_MSG(r.ok(), r.status().ToString());
    return std::move(r).value();
  }

  static emu::InProcConfig FabricConfig(const WorldOptions& o) {
    emu::InProcConfig c;
    c.latency = core::Duration::Microseconds(2);
    c.link_rate = core::DataRate::Gbps(100);
    c.faults = o.faults;
    c.seed = o.seed;
    return c;
  }

  // ---- HTTP-level requests ---------------------------------------------------------------
  HttpRequest Request(std::string method, std::string target, HeaderList extra = {},
                      size_t content_length = 0) {
    HttpRequest req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.headers = std::move(extra);
    req.headers.emplace_back("host", "127.0.0.1:9000");
    req.headers.emplace_back("content-length", std::to_string(content_length));
    return req;
  }
  void Sign(HttpRequest& req, const Credential& cred = kCred,
            std::string_view payload = kUnsignedPayload) {
    SignRequest(req, cred, "us-east-1", payload, service_->NowUnix());
  }

  // Starts an exchange and feeds its body; the reply arrives in `*out` as the runtime runs.
  std::unique_ptr<S3Exchange> StartExchange(HttpRequest req, std::string_view body,
                                            std::optional<S3Response>* out) {
    auto ex = service_->Start(std::move(req));
    if (ex->wants_body() && !body.empty()) (void)ex->OnBody(body);
    ex->FinishAsync([out](S3Response r) { *out = std::move(r); });
    return ex;
  }
  // Runs until every reply in `outs` has arrived (bounded in virtual time).
  bool RunUntilReplies(const std::vector<std::optional<S3Response>*>& outs,
                       core::Duration limit = core::Duration::Seconds(120)) {
    const core::Time deadline = rt_.Now() + limit;
    auto all = [&] {
      for (auto* o : outs) {
        if (!o->has_value()) return false;
      }
      return true;
    };
    // One event at a time: a batch could run far-future timers (idle sweeps, retransmit
    // timers) after the reply and jump virtual time.
    while (!all()) {
      if (rt_.Now() > deadline || rt_.RunEvents(1) == 0) return all();
    }
    return true;
  }
  S3Response Send(HttpRequest req, std::string_view body = {}) {
    std::optional<S3Response> out;
    auto ex = StartExchange(std::move(req), body, &out);
    const bool ok = RunUntilReplies({&out});
    S3_CHECK_MSG(ok, "no reply within the virtual-time bound (seed " + std::to_string(opts_.seed) + ")");
    return std::move(*out);
  }
  // A signed plain request with a body (its SHA-256 signed).
  S3Response Plain(std::string method, std::string target, std::string_view body = {},
                   HeaderList extra = {}) {
    HttpRequest req = Request(std::move(method), std::move(target), std::move(extra), body.size());
    Sign(req, kCred, HexEncode(Sha256(body)));
    return Send(std::move(req), body);
  }
  std::string PlainGet(const std::string& target) {
    S3Response r = Plain("GET", target);
    if (r.status != 200) return "<status " + std::to_string(r.status) + " " + ErrorCode(r) + ">";
    if (!r.reader) return r.body;
    std::string out(r.content_length, '\0');
    uint64_t off = 0;
    while (off < out.size()) {
      auto n = r.reader->Read(r.offset + off, out.data() + off, out.size() - off);
      S3_CHECK(n.ok() && *n > 0);
      off += *n;
    }
    return out;
  }

  // ---- Client QPs ------------------------------------------------------------------------
  emu::QueuePair* NewQp() {
    emu::QpInitAttr init;
    init.send_cq = cq_.get();
    init.recv_cq = cq_.get();
    auto c = std::make_unique<ClientQp>();
    c->qp = Must(pd_->CreateQp(init));
    c->psn = static_cast<uint32_t>(rng_.NextU64() & 0xffffff);
    emu::QpAttr a;
    a.qp_state = emu::QpState::kInit;
    a.qp_access_flags = emu::kAccessRemoteWrite | emu::kAccessRemoteRead;
    S3_CHECK(c->qp->Modify(a, emu::kQpAttrState | emu::kQpAttrAccessFlags) == 0);
    emu::QueuePair* qp = c->qp.get();
    qps_.push_back(std::move(c));
    return qp;
  }
  RcConnectParams ClientParams(emu::QueuePair* qp) {
    RcConnectParams p;
    p.qpn = qp->qp_num();
    p.psn = FindQp(qp)->psn;
    p.gid = client_dev_->gid();
    p.udp_port = client_dev_->address().udp_port;
    p.mtu = emu::Mtu::k1024;
    return p;
  }
  ClientQp* FindQp(emu::QueuePair* qp) {
    for (auto& c : qps_) {
      if (c->qp.get() == qp) return c.get();
    }
    return nullptr;
  }
  // POST /?rdmaConnect with `header` (default: the QP's own parameters).
  S3Response ConnectRequest(emu::QueuePair* qp, const Credential& cred = kCred,
                            std::optional<std::string> header = std::nullopt) {
    HttpRequest req = Request("POST", "/?rdmaConnect",
                              {{std::string(kRcConnectHeader),
                                header ? *header : FormatRcConnectHeader(ClientParams(qp))}});
    Sign(req, cred, HexEncode(Sha256("")));
    return Send(std::move(req));
  }
  // A connected QP (RTS), or nullptr with a test failure.
  emu::QueuePair* Connect(const Credential& cred = kCred) {
    emu::QueuePair* qp = NewQp();
    S3Response r = ConnectRequest(qp, cred);
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return nullptr;
    auto server = ParseRcConnectHeader(HdrOr(r, kRcConnectHeader));
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    if (!server.ok()) return nullptr;
    emu::QpAttr a;
    a.qp_state = emu::QpState::kRtr;
    a.path_mtu = server->mtu;
    a.dest_qp_num = server->qpn;
    a.dest_gid = server->gid;
    a.dest_udp_port = server->udp_port;
    a.rq_psn = server->psn;
    a.max_dest_rd_atomic = 4;
    a.min_rnr_timer = 12;
    S3_CHECK(qp->Modify(a, emu::kQpAttrState | emu::kQpAttrAv | emu::kQpAttrPathMtu |
                               emu::kQpAttrDestQpn | emu::kQpAttrRqPsn |
                               emu::kQpAttrMaxDestRdAtomic | emu::kQpAttrMinRnrTimer) == 0);
    a.qp_state = emu::QpState::kRts;
    a.sq_psn = FindQp(qp)->psn;
    S3_CHECK(qp->Modify(a, emu::kQpAttrState | emu::kQpAttrSqPsn | emu::kQpAttrTimeout |
                               emu::kQpAttrRetryCnt | emu::kQpAttrRnrRetry |
                               emu::kQpAttrMaxQpRdAtomic) == 0);
    return qp;
  }

  // The descriptor of the client buffer for `qp`.
  RcDescriptor Descriptor(emu::QueuePair* qp) const {
    RcDescriptor d;
    d.qpn = qp->qp_num();
    d.gid = client_dev_->gid();
    d.rkey = mr_->rkey();
    d.addr = reinterpret_cast<uint64_t>(buf_.data());
    d.length = buf_.size();
    return d;
  }
  // A token for [buf + off, + size).
  std::string Token(emu::QueuePair* qp, uint64_t off, uint64_t size) const {
    return FormatRdmaToken(Descriptor(qp), true, reinterpret_cast<uint64_t>(buf_.data()) + off, size);
  }
  HttpRequest RdmaRequest(std::string method, std::string target, const std::string& token,
                          HeaderList extra = {}) {
    extra.emplace_back(std::string(kRdmaTokenHeader), token);
    HttpRequest req = Request(std::move(method), std::move(target), std::move(extra));
    Sign(req);
    return req;
  }
  S3Response RdmaGet(emu::QueuePair* qp, const std::string& target, uint64_t off, uint64_t size,
                     HeaderList extra = {}) {
    return Send(RdmaRequest("GET", target, Token(qp, off, size), std::move(extra)));
  }
  S3Response RdmaPut(emu::QueuePair* qp, const std::string& target, uint64_t off, uint64_t size,
                     HeaderList extra = {}) {
    return Send(RdmaRequest("PUT", target, Token(qp, off, size), std::move(extra)));
  }
  void Fill(uint64_t off, std::string_view data) { std::copy(data.begin(), data.end(), buf_.begin() + static_cast<std::ptrdiff_t>(off)); }
  std::string Buf(uint64_t off, uint64_t n) const { return std::string(buf_.data() + off, n); }

  core::VirtualRuntime rt_;
  WorldOptions opts_;
  emu::InProcFabric fabric_;
  core::Rng rng_;
  std::unique_ptr<emu::Device> server_dev_, client_dev_;
  std::filesystem::path dir_;
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<S3Service> service_;
  std::unique_ptr<RdmaServer> rdma_;
  std::unique_ptr<emu::ProtectionDomain> pd_;
  std::unique_ptr<emu::CompletionQueue> cq_;
  std::vector<char> buf_;
  std::unique_ptr<emu::MemoryRegion> mr_;
  std::vector<std::unique_ptr<ClientQp>> qps_;
};

}  // namespace s3rdma::proto::testing

#endif  // S3RDMA_TESTS_UNIT_PROTO_RDMA_TEST_WORLD_H_
