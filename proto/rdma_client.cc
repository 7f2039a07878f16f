#include "proto/rdma_client.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "core/check.h"
#include "proto/client_common.h"
#include "proto/fs_store.h"  // kPlantedBugsBuilt
#include "proto/rdma_token.h"
#include "proto/s3_error.h"

namespace s3rdma::proto {

namespace {

constexpr std::string_view kTransferFailed = "RDMATransferFailed";
constexpr std::string_view kConnectionNotFound = "RDMAConnectionNotFound";
constexpr std::string_view kConnectionConflict = "RDMAConnectionConflict";

// An error reply as a Status: known S3 codes as S3Error; other codes (the RDMA ones) keep
// "Code: message" with a status code from the HTTP class.
core::Status ReplyError(const ClientResponse& r) {
  core::Status st = ErrorFromReply(r.status, r.body);
  if (st.code() != core::StatusCode::kUnavailable) return st;
  if (r.status == 501) return core::Status::Unimplemented(st.message());
  if (r.status == 403) return core::Status::PermissionDenied(st.message());
  if (r.status >= 400 && r.status < 500) return core::Status::InvalidArgument(st.message());
  return st;
}

std::string RdmaReply(const ClientResponse& r) {
  const std::string* v = r.Header(kRdmaReplyHeader);
  return v != nullptr ? *v : std::string();
}

}  // namespace

core::Status RdmaClientOptions::Validate() const {
  if (connections < 1 || connections > 64) {
    return core::Status::InvalidArgument("connections must be 1..64");
  }
  if (emu::MtuBytes(mtu) == 0) return core::Status::InvalidArgument("bad MTU");
  if (max_connect_attempts < 1) {
    return core::Status::InvalidArgument("max_connect_attempts must be >= 1");
  }
  if (min_rnr_timer > 31) return core::Status::InvalidArgument("min_rnr_timer must be 0..31");
  if (request_timeout < core::Duration::Zero()) {
    return core::Status::InvalidArgument("request_timeout must be >= 0");
  }
  if (max_dest_rd_atomic < 1 || max_dest_rd_atomic > emu::kMaxRdAtomic) {
    return core::Status::InvalidArgument("max_dest_rd_atomic must be 1..16");
  }
  return core::Status::Ok();
}

// One request: the plain S3 request it is (no token), where its bytes are, and its callback.
struct RdmaClient::Op {
  bool is_get = true;
  ClientRequest request;  // method, bucket, key, query, caller headers
  char* data = nullptr;   // buffer window start (local address)
  uint64_t window = 0;    // bytes the server may touch from `data`
  uint32_t rkey = 0;
  uint64_t mr_addr = 0;
  uint64_t mr_length = 0;
  int attempts = 0;  // RDMA attempts made
  Callback done;
  bool finished = false;  // the callback ran (or was consumed): late events are ignored
  core::TimerHandle timer;  // request_timeout
  int conn = -1;            // connection of the current attempt (-1: none yet)
  uint64_t conn_generation = 0;
};

struct RdmaClient::Conn {
  enum class State { kDown, kConnecting, kReady };
  State state = State::kDown;
  std::unique_ptr<emu::QueuePair> qp;
  uint32_t psn = 0;
  uint64_t generation = 0;  // bumped per QP, so a late reply cannot kill its successor
  int attempts = 0;         // connect attempts of the current connect
  uint64_t max_requests = 0;
  int in_flight = 0;
  std::vector<std::shared_ptr<Op>> waiting;  // until the connection is ready
  // QPs given up (refused as conflicting with 409, or dead), kept until a connect succeeds
  // so that the device does not hand their QPNs straight back for the new connection.
  std::vector<std::unique_ptr<emu::QueuePair>> retired;
  emu::NodeAddress server;
};

RdmaClient::RdmaClient(emu::Device& device, std::vector<S3Transport*> transports,
                       RdmaClientOptions options)
    : device_(device),
      transports_(std::move(transports)),
      transport_load_(transports_.size(), 0),
      options_(options),
      rng_(core::Rng(options.seed).Fork("rdma-client")) {}

core::Result<std::unique_ptr<RdmaClient>> RdmaClient::Create(emu::Device& device,
                                                             std::vector<S3Transport*> transports,
                                                             RdmaClientOptions options) {
  S3_RETURN_IF_ERROR(options.Validate());
  if (transports.empty()) return core::Status::InvalidArgument("RdmaClient needs a transport");
  for (S3Transport* t : transports) {
    if (t == nullptr || &t->runtime() != &device.runtime()) {
      return core::Status::InvalidArgument("transports must run on the device's runtime");
    }
  }
  std::unique_ptr<RdmaClient> c(new RdmaClient(device, std::move(transports), options));
  S3_ASSIGN_OR_RETURN(c->pd_, device.AllocPd());
  // The client's QPs post nothing (the server moves the bytes), so the CQ only has to exist.
  S3_ASSIGN_OR_RETURN(c->cq_, device.CreateCq(64));
  for (int i = 0; i < options.connections; ++i) c->conns_.push_back(std::make_unique<Conn>());
  return c;
}

RdmaClient::~RdmaClient() {
  for (auto& c : conns_) {  // QPs before the CQ and PD
    c->qp.reset();
    c->retired.clear();
  }
}

core::Result<RdmaBuffer> RdmaClient::RegisterBuffer(void* addr, size_t length) {
  if (addr == nullptr || length == 0) {
    return core::Status::InvalidArgument("RegisterBuffer needs a non-empty buffer");
  }
  RdmaBuffer b;
  S3_ASSIGN_OR_RETURN(b.mr_, pd_->RegisterMemory(addr, length,
                                                 emu::kAccessLocalWrite |
                                                     emu::kAccessRemoteWrite |
                                                     emu::kAccessRemoteRead));
  b.data_ = static_cast<char*>(addr);
  b.size_ = length;
  return b;
}

void RdmaClient::Later(std::function<void()> task) {
  std::weak_ptr<char> alive = alive_;
  device_.runtime().Post([alive, task = std::move(task)] {
    if (!alive.expired()) task();
  });
}

void RdmaClient::Finish(const std::shared_ptr<Op>& op, core::Result<RdmaResult> result) {
  if (op->finished) return;
  op->finished = true;
  op->timer.Cancel();
  if (!result.ok()) ++stats_.failures;
  Callback done = std::move(op->done);
  if (done) done(std::move(result));
}

void RdmaClient::Get(const std::string& bucket, const std::string& key,
                     std::optional<ByteRange> range, const RdmaBuffer& buffer, uint64_t offset,
                     Callback done, HeaderList headers) {
  // The rest of the buffer (an offset at or past its end is refused below).
  const uint64_t length = offset < buffer.size() ? buffer.size() - offset : 0;
  Get(bucket, key, range, buffer, offset, length, std::move(done), std::move(headers));
}

void RdmaClient::StartTimer(const std::shared_ptr<Op>& op) {
  if (options_.request_timeout <= core::Duration::Zero()) return;
  std::weak_ptr<char> alive = alive_;
  std::weak_ptr<Op> weak = op;
  op->timer = device_.runtime().After(options_.request_timeout, [this, alive, weak] {
    if (alive.expired()) return;
    if (auto o = weak.lock()) TimeOut(o);
  });
}

void RdmaClient::TimeOut(const std::shared_ptr<Op>& op) {
  if (op->finished) return;
  ++stats_.timeouts;
  // Fence the buffer first: the attempt's QP goes to the error state (incoming WRITEs and
  // READ requests for it are dropped from now on) and is replaced.
  if (op->conn >= 0) {
    Conn& c = *conns_[op->conn];
    if (c.qp && c.generation == op->conn_generation && c.state == Conn::State::kReady) {
      emu::QpAttr a;
      a.qp_state = emu::QpState::kErr;
      S3_CHECK(c.qp->Modify(a, emu::kQpAttrState) == 0);
      DropConnection(op->conn);
    }
  }
  Finish(op, core::Status::DeadlineExceeded(
                 "RDMA request timed out after " +
                 std::to_string(options_.request_timeout.us() / 1000) +
                 " ms; its connection was reset, the server may still have completed it"));
}

void RdmaClient::Get(const std::string& bucket, const std::string& key,
                     std::optional<ByteRange> range, const RdmaBuffer& buffer, uint64_t offset,
                     uint64_t length, Callback done, HeaderList headers) {
  ++stats_.requests;
  auto op = std::make_shared<Op>();
  op->done = std::move(done);
  if (!buffer.valid() || offset >= buffer.size()) {
    Later([this, op] {
      Finish(op, core::Status::InvalidArgument("Get: offset outside the registered buffer"));
    });
    return;
  }
  if (length == 0 || length > buffer.size() - offset) {
    Later([this, op] {
      Finish(op, core::Status::InvalidArgument("Get: length 0 or past the registered buffer"));
    });
    return;
  }
  if (range && range->last < range->first) {
    Later([this, op] { Finish(op, core::Status::InvalidArgument("Get: range last < first")); });
    return;
  }
  op->is_get = true;
  op->request.method = "GET";
  op->request.bucket = bucket;
  op->request.key = key;
  op->request.headers = std::move(headers);
  if (range) {
    op->request.headers.emplace_back(
        "range", "bytes=" + std::to_string(range->first) + "-" + std::to_string(range->last));
  }
  op->data = buffer.data() + offset;
  op->window = length;
  if (kPlantedBugsBuilt && options_.plant_get_token_whole_buffer) {
    op->window = buffer.size() - offset;
  }
  op->rkey = buffer.rkey();
  op->mr_addr = reinterpret_cast<uint64_t>(buffer.data());
  op->mr_length = buffer.size();
  StartTimer(op);
  Dispatch(std::move(op));
}

void RdmaClient::Put(const std::string& bucket, const std::string& key, const RdmaBuffer& buffer,
                     uint64_t offset, uint64_t length, HeaderList headers, Callback done) {
  PutImpl(bucket, key, {}, buffer, offset, length, std::move(headers), std::move(done));
}

void RdmaClient::PutImpl(const std::string& bucket, const std::string& key,
                         std::vector<std::pair<std::string, std::string>> query,
                         const RdmaBuffer& buffer, uint64_t offset, uint64_t length,
                         HeaderList headers, Callback done) {
  ++stats_.requests;
  auto op = std::make_shared<Op>();
  op->done = std::move(done);
  if (!buffer.valid() || offset > buffer.size() || length > buffer.size() - offset) {
    Later([this, op] {
      Finish(op, core::Status::InvalidArgument("Put: range outside the registered buffer"));
    });
    return;
  }
  op->is_get = false;
  op->request.method = "PUT";
  op->request.bucket = bucket;
  op->request.key = key;
  op->request.query = std::move(query);
  op->request.headers = std::move(headers);
  op->data = buffer.data() + offset;
  op->window = length;
  op->rkey = buffer.rkey();
  op->mr_addr = reinterpret_cast<uint64_t>(buffer.data());
  op->mr_length = buffer.size();
  StartTimer(op);
  Dispatch(std::move(op));
}

void RdmaClient::UploadPart(const std::string& bucket, const std::string& key,
                            const std::string& upload_id, int part_number,
                            const RdmaBuffer& buffer, uint64_t offset, uint64_t length,
                            Callback done) {
  // An UploadPart is a PUT with partNumber and uploadId.
  PutImpl(bucket, key, {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}},
          buffer, offset, length, {}, std::move(done));
}

int RdmaClient::PickTransport() {
  int best = 0;
  for (int i = 1; i < static_cast<int>(transports_.size()); ++i) {
    if (transport_load_[i] < transport_load_[best]) best = i;
  }
  return best;
}

void RdmaClient::SendOn(int t, ClientRequest request, S3Transport::Callback done) {
  ++transport_load_[t];
  std::weak_ptr<char> alive = alive_;
  transports_[t]->Send(std::move(request),
                       [this, alive, t, done = std::move(done)](core::Result<ClientResponse> r) {
                         if (alive.expired()) return;
                         --transport_load_[t];
                         done(std::move(r));
                       });
}

void RdmaClient::Dispatch(std::shared_ptr<Op> op) {
  if (no_rdma_) {
    if (options_.fallback_to_http) {
      ViaHttp(std::move(op));
    } else {
      Later([this, op] {
        Finish(op, core::Status::Unimplemented(
                       "NotImplemented: the server does not support RDMA (no fallback)"));
      });
    }
    return;
  }
  // The least loaded connection (in flight + waiting); ties go to the lowest index, so
  // connections open one by one as load grows.
  int best = 0;
  auto load = [&](int i) {
    return conns_[i]->in_flight + static_cast<int>(conns_[i]->waiting.size());
  };
  for (int i = 1; i < static_cast<int>(conns_.size()); ++i) {
    if (load(i) < load(best)) best = i;
  }
  Conn& c = *conns_[best];
  switch (c.state) {
    case Conn::State::kReady:
      Issue(std::move(op), best);
      return;
    case Conn::State::kConnecting:
      c.waiting.push_back(std::move(op));
      return;
    case Conn::State::kDown:
      c.waiting.push_back(std::move(op));
      c.attempts = 0;
      Connect(best);
      return;
  }
}

ClientRequest RdmaClient::ConnectRequest(const Conn& c, const char* method) const {
  RcConnectParams mine;
  mine.qpn = c.qp->qp_num();
  mine.psn = c.psn;
  mine.gid = device_.gid();
  mine.udp_port = device_.address().udp_port;
  mine.mtu = options_.mtu;
  ClientRequest r;
  r.method = method;
  r.query = {{std::string(kRdmaConnectSubresource), ""}};
  r.headers.emplace_back(std::string(kRcConnectHeader), FormatRcConnectHeader(mine));
  r.return_error_responses = true;
  return r;
}

void RdmaClient::Connect(int index) {
  Conn& c = *conns_[index];
  c.state = Conn::State::kConnecting;
  // Create the new QP before dropping the old one: a fresh QPN, not the slot just freed.
  std::unique_ptr<emu::QueuePair> old = std::move(c.qp);
  ++c.generation;
  ++c.attempts;
  emu::QpInitAttr init;
  init.send_cq = cq_.get();
  init.recv_cq = cq_.get();
  init.cap.max_send_wr = 1;
  init.cap.max_recv_wr = 1;
  init.cap.max_send_sge = 1;
  init.cap.max_recv_sge = 1;
  init.cap.max_inline_data = 0;
  auto qp = pd_->CreateQp(init);
  if (!qp.ok()) {
    const core::Status st = qp.status();
    Later([this, index, st] { FailWaiting(index, st); });
    return;
  }
  c.qp = std::move(qp).value();
  DestroyQp(old);
  emu::QpAttr a;
  a.qp_state = emu::QpState::kInit;
  a.qp_access_flags = emu::kAccessLocalWrite | emu::kAccessRemoteWrite | emu::kAccessRemoteRead;
  S3_CHECK(c.qp->Modify(a, emu::kQpAttrState | emu::kQpAttrAccessFlags) == 0);
  c.psn = static_cast<uint32_t>(rng_.NextU64()) & emu::kPsnMask;
  ClientRequest r = ConnectRequest(c, "POST");
  const uint64_t generation = c.generation;
  SendOn(PickTransport(), std::move(r), [this, index, generation](core::Result<ClientResponse> rep) {
    OnConnectReply(index, generation, std::move(rep));
  });
}

void RdmaClient::FailWaiting(int index, const core::Status& status) {
  Conn& c = *conns_[index];
  c.state = Conn::State::kDown;
  DestroyQp(c.qp);
  DestroyRetired(c);
  auto waiting = std::move(c.waiting);
  c.waiting.clear();
  for (auto& op : waiting) Finish(op, status);
}

void RdmaClient::OnConnectReply(int index, uint64_t generation,
                                core::Result<ClientResponse> reply) {
  Conn& c = *conns_[index];
  if (generation != c.generation || c.state != Conn::State::kConnecting) return;
  if (!reply.ok()) {
    FailWaiting(index, reply.status());
    return;
  }
  const ClientResponse& r = *reply;
  if (r.status == 409 && ErrorCodeOf(r.body) == kConnectionConflict &&
      c.attempts < options_.max_connect_attempts) {
    ++stats_.connect_conflicts;
    c.retired.push_back(std::move(c.qp));
    Connect(index);  // another client holds (gid, qpn): try a fresh QP
    return;
  }
  if (r.status == 501 && ErrorCodeOf(r.body) == "NotImplemented") {
    // No RDMA on this server: everything waiting (on any connection) falls back or fails.
    no_rdma_ = true;
    std::vector<std::shared_ptr<Op>> ops;
    for (auto& conn : conns_) {
      for (auto& op : conn->waiting) ops.push_back(std::move(op));
      conn->waiting.clear();
      if (conn->state == Conn::State::kConnecting) {
        conn->state = Conn::State::kDown;
        conn->qp.reset();
      }
    }
    for (auto& op : ops) Dispatch(std::move(op));
    return;
  }
  if (r.status != 200) {
    FailWaiting(index, ReplyError(r));
    return;
  }
  const std::string* header = r.Header(kRcConnectHeader);
  auto server = header != nullptr ? ParseRcConnectHeader(*header)
                                  : core::Result<RcConnectParams>(core::Status::InvalidArgument(
                                        "no x-s3rdma-rc header"));
  if (!server.ok()) {
    FailWaiting(index, core::Status::Internal("bad rdmaConnect reply: " + server.status().message()));
    return;
  }
  auto ipv4 = emu::Ipv4FromGid(server->gid);
  if (!ipv4.ok()) {
    FailWaiting(index, core::Status::Internal("rdmaConnect reply: GID is not IPv4-mapped"));
    return;
  }
  emu::QpAttr a;
  a.path_mtu = std::min(server->mtu, options_.mtu);
  a.dest_qp_num = server->qpn;
  a.dest_gid = server->gid;
  a.dest_udp_port = server->udp_port;
  a.rq_psn = server->psn;
  a.max_dest_rd_atomic = options_.max_dest_rd_atomic;
  a.min_rnr_timer = options_.min_rnr_timer;
  a.sq_psn = c.psn;
  if (emu::ConnectRcQp(*c.qp, a) != 0) {
    FailWaiting(index, core::Status::Internal("cannot connect the QP with the server's values"));
    return;
  }
  c.server = emu::NodeAddress{*ipv4, server->udp_port};
  c.max_requests = 0;
  if (const std::string* m = r.Header(kRcMaxRequestsHeader)) {
    c.max_requests = ParseDecimal(*m).value_or(0);
  }
  c.state = Conn::State::kReady;
  DestroyRetired(c);
  ++stats_.connects;
  auto waiting = std::move(c.waiting);
  c.waiting.clear();
  for (auto& op : waiting) Issue(std::move(op), index);
}

void RdmaClient::Issue(std::shared_ptr<Op> op, int index) {
  if (op->finished) return;  // timed out while waiting for the connection
  Conn& c = *conns_[index];
  op->conn = index;
  op->conn_generation = c.generation;
  ++op->attempts;
  ++c.in_flight;
  RcDescriptor desc;
  desc.transport = kRdmaTransportRc;
  desc.qpn = c.qp->qp_num();
  desc.gid = device_.gid();
  desc.rkey = op->rkey;
  desc.addr = op->mr_addr;
  desc.length = op->mr_length;
  ClientRequest r = op->request;
  r.headers.emplace_back(std::string(kRdmaTokenHeader),
                         FormatRdmaToken(desc, true, reinterpret_cast<uint64_t>(op->data),
                                         op->window));
  if (!op->is_get) r.headers.emplace_back("x-amz-content-sha256", std::string(kUnsignedPayload));
  r.return_error_responses = true;
  const uint64_t generation = c.generation;
  SendOn(PickTransport(), std::move(r),
         [this, op, index, generation](core::Result<ClientResponse> rep) mutable {
           OnReply(std::move(op), index, generation, std::move(rep));
         });
}

void RdmaClient::DropConnection(int index) {
  Conn& c = *conns_[index];
  ++stats_.reconnects;
  c.retired.push_back(std::move(c.qp));
  c.state = Conn::State::kDown;
  ++c.generation;
  c.in_flight = 0;
  // Requests still in flight on the old QP answer with errors and are retried then.
}

void RdmaClient::OnReply(std::shared_ptr<Op> op, int index, uint64_t generation,
                         core::Result<ClientResponse> reply) {
  Conn& c = *conns_[index];
  if (generation == c.generation) --c.in_flight;
  if (op->finished) return;  // timed out: the caller has moved on
  if (!reply.ok()) {
    Finish(op, reply.status());
    return;
  }
  ClientResponse& r = *reply;
  const std::string rdma = RdmaReply(r);
  if (r.status >= 200 && r.status < 300) {
    if (rdma != "200" && rdma != "206") {
      // A server that ignored the token (it does not speak this protocol): a GET then carries
      // the bytes in the body; a PUT may have stored an empty object, which we cannot undo.
      if (op->is_get && options_.fallback_to_http && r.body.size() <= op->window) {
        std::memcpy(op->data, r.body.data(), r.body.size());
        ++stats_.http_fallbacks;
        RdmaResult res{r.status, r.body.size(), "", false, {}};
        if (const std::string* e = r.Header("etag")) res.etag = *e;
        res.headers = std::move(r.headers);
        Finish(op, std::move(res));
        return;
      }
      Finish(op, core::Status::Internal(
                     "the server answered " + std::to_string(r.status) +
                     " without x-amz-rdma-reply: it does not speak S3-over-RDMA" +
                     (op->is_get ? "" : " (the object may have been stored empty)")));
      return;
    }
    RdmaResult res;
    res.status = r.status;
    res.via_rdma = true;
    const std::string* bytes = r.Header(kRdmaBytesHeader);
    auto n = bytes != nullptr ? ParseDecimal(*bytes) : std::nullopt;
    if (!n || *n > op->window || (!op->is_get && *n != op->window)) {
      Finish(op, core::Status::Internal("bad x-amz-rdma-bytes-transferred in the reply"));
      return;
    }
    res.bytes = *n;
    if (const std::string* e = r.Header("etag")) res.etag = *e;
    res.headers = std::move(r.headers);
    ++stats_.rdma_done;
    Finish(op, std::move(res));
    return;
  }
  const std::string code = ErrorCodeOf(r.body);
  if (code == kTransferFailed || code == kConnectionNotFound) {
    if (generation == c.generation && c.state == Conn::State::kReady) DropConnection(index);
    if (op->attempts < 2) {
      ++stats_.retries;
      Dispatch(std::move(op));
      return;
    }
  }
  if (r.status == 501 && options_.fallback_to_http) {
    ViaHttp(std::move(op));
    return;
  }
  Finish(op, ReplyError(r));
}

void RdmaClient::ViaHttp(std::shared_ptr<Op> op) {
  ++stats_.http_fallbacks;
  ClientRequest r = op->request;
  auto received = std::make_shared<uint64_t>(0);
  if (op->is_get) {
    r.body_sink = [op, received](std::string_view d) {
      // Timed out: the caller may be using the buffer again.
      if (op->finished) return core::Status::Cancelled("request timed out");
      if (d.size() > op->window - *received) {
        return core::Status::InvalidArgument(
            "RDMABufferTooSmall: the object does not fit in the buffer (HTTP fallback)");
      }
      std::memcpy(op->data + *received, d.data(), d.size());
      *received += d.size();
      return core::Status::Ok();
    };
  } else {
    r.body.assign(op->data, op->window);
  }
  SendOn(PickTransport(), std::move(r), [this, op, received](core::Result<ClientResponse> rep) {
    if (!rep.ok()) {
      Finish(op, rep.status());
      return;
    }
    RdmaResult res;
    res.status = rep->status;
    res.via_rdma = false;
    res.bytes = op->is_get ? *received : op->window;
    if (const std::string* e = rep->Header("etag")) res.etag = *e;
    res.headers = std::move(rep->headers);
    Finish(op, std::move(res));
  });
}

void RdmaClient::CreateUpload(const std::string& bucket, const std::string& key,
                              HeaderList headers,
                              std::function<void(core::Result<std::string>)> done) {
  ClientRequest r;
  r.method = "POST";
  r.bucket = bucket;
  r.key = key;
  r.query = {{"uploads", ""}};
  r.headers = std::move(headers);
  SendOn(PickTransport(), std::move(r), [done = std::move(done)](core::Result<ClientResponse> rep) {
    if (!rep.ok()) return done(rep.status());
    std::string id = XmlTag(rep->body, "UploadId");
    if (id.empty()) return done(core::Status::Internal("no UploadId in the reply"));
    done(std::move(id));
  });
}

void RdmaClient::CompleteUpload(const std::string& bucket, const std::string& key,
                                const std::string& upload_id,
                                const std::vector<CompletedPart>& parts, Callback done) {
  ClientRequest r;
  r.method = "POST";
  r.bucket = bucket;
  r.key = key;
  r.query = {{"uploadId", upload_id}};
  r.body = "<CompleteMultipartUpload>";
  for (const auto& p : parts) {
    r.body += "<Part><PartNumber>" + std::to_string(p.number) + "</PartNumber><ETag>" + p.etag +
              "</ETag></Part>";
  }
  r.body += "</CompleteMultipartUpload>";
  SendOn(PickTransport(), std::move(r), [done = std::move(done)](core::Result<ClientResponse> rep) {
    if (!rep.ok()) return done(rep.status());
    // CompleteMultipartUpload can fail after a 200 (an <Error> body).
    if (!ErrorCodeOf(rep->body).empty()) return done(ErrorFromReply(500, rep->body));
    RdmaResult res;
    res.status = rep->status;
    res.via_rdma = false;
    std::string etag = XmlTag(rep->body, "ETag");
    for (const std::string_view q : {"&quot;", "&#34;"}) {
      size_t p;
      while ((p = etag.find(q)) != std::string::npos) etag.replace(p, q.size(), "\"");
    }
    res.etag = std::move(etag);
    res.headers = std::move(rep->headers);
    done(std::move(res));
  });
}

void RdmaClient::Close(std::function<void()> done) {
  auto left = std::make_shared<int>(1);
  auto finish = [left, done = std::move(done)] {
    if (--*left == 0 && done) done();
  };
  for (int i = 0; i < static_cast<int>(conns_.size()); ++i) {
    Conn& c = *conns_[i];
    if (c.state != Conn::State::kReady) continue;
    ClientRequest r = ConnectRequest(c, "DELETE");
    ++*left;
    SendOn(PickTransport(), std::move(r), [this, i, finish](core::Result<ClientResponse>) {
      Conn& conn = *conns_[i];
      conn.qp.reset();
      conn.state = Conn::State::kDown;
      ++conn.generation;
      conn.in_flight = 0;
      finish();
    });
  }
  Later(finish);
}

int RdmaClient::connected() const {
  int n = 0;
  for (const auto& c : conns_) n += c->state == Conn::State::kReady;
  return n;
}

void RdmaClient::BreakConnectionForTesting(int index) {
  Conn& c = *conns_[index];
  if (!c.qp) return;
  emu::QpAttr a;
  a.qp_state = emu::QpState::kErr;
  S3_CHECK(c.qp->Modify(a, emu::kQpAttrState) == 0);
}

emu::QueuePair* RdmaClient::QpForTesting(int index) { return conns_[index]->qp.get(); }

namespace {

void AddQpStats(emu::QpStats& to, const emu::QpStats& s) {
  to.packets_sent += s.packets_sent;
  to.packets_received += s.packets_received;
  to.retransmitted_packets += s.retransmitted_packets;
  to.timeouts += s.timeouts;
  to.seq_naks_sent += s.seq_naks_sent;
  to.seq_naks_received += s.seq_naks_received;
  to.rnr_naks_sent += s.rnr_naks_sent;
  to.rnr_naks_received += s.rnr_naks_received;
  to.duplicates_received += s.duplicates_received;
  to.acks_sent += s.acks_sent;
  to.acks_received += s.acks_received;
  to.dropped_packets += s.dropped_packets;
}

}  // namespace

void RdmaClient::DestroyQp(std::unique_ptr<emu::QueuePair>& qp) {
  if (!qp) return;
  AddQpStats(stats_.destroyed_qps, qp->stats());
  qp.reset();
}

void RdmaClient::DestroyRetired(Conn& c) {
  for (auto& qp : c.retired) DestroyQp(qp);
  c.retired.clear();
}

emu::QpStats RdmaClient::QpCounters() const {
  emu::QpStats total = stats_.destroyed_qps;
  for (const auto& c : conns_) {
    if (c->qp) AddQpStats(total, c->qp->stats());
    for (const auto& qp : c->retired) {
      if (qp) AddQpStats(total, qp->stats());
    }
  }
  return total;
}

core::Result<emu::NodeAddress> ClientRdmaAddress(std::string_view spec,
                                                 std::string_view server_host, int pid) {
  constexpr std::string_view kUdp = "udp";
  if (spec.substr(0, kUdp.size()) != kUdp || (spec.size() > 3 && spec[3] != ':')) {
    return core::Status::InvalidArgument("--rdma must be udp or udp:ADDR[:PORT] (got '" +
                                         std::string(spec) + "')");
  }
  if (spec.size() > 4) {
    const std::string_view addr = spec.substr(4);
    auto a = emu::ParseNodeAddress(addr);
    if (!a.ok()) return core::Status::InvalidArgument("--rdma " + std::string(spec) + ": " + a.status().message());
    if (addr.find(':') == std::string_view::npos) a->udp_port = 0;
    if (a->ipv4 == 0) return core::Status::InvalidArgument("--rdma: ADDR must be a specific address");
    return *a;
  }
  auto ip = emu::ParseIpv4(server_host);
  const bool loopback = server_host == "localhost" || (ip.ok() && (*ip >> 24) == 127);
  if (!loopback) {
    return core::Status::InvalidArgument(
        "--rdma udp needs this host's address for a server that is not on loopback: "
        "--rdma udp:ADDR");
  }
  // 127.64.0.1 .. 127.127.255.254: away from 127.0.0.x, which servers use.
  const uint32_t v = static_cast<uint32_t>(pid) % (64u << 16);
  uint32_t host = 64u << 16 | v;
  if ((host & 0xff) == 0 || (host & 0xff) == 0xff) host ^= 0x01;
  return emu::NodeAddress{127u << 24 | host, 0};
}

}  // namespace s3rdma::proto
