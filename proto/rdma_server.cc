// RdmaServer: connections, the staging pool and the transfer engine.
#include "proto/rdma_server.h"

#include <algorithm>
#include <string>

#include "core/check.h"
#include "proto/internal/rdma_server_impl.h"
#include "proto/s3_error.h"

namespace s3rdma::proto {

namespace {

// SplitMix64: spreads server initial PSNs (deterministic from the seed).
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

core::Status RdmaServerOptions::Validate() const {
  auto bad = [](std::string m) { return core::Status::InvalidArgument("rdma server: " + m); };
  if (chunk_bytes < 4096 || chunk_bytes > emu::kMaxMsgSize) {
    return bad("chunk size must be 4 KiB..2 GiB");
  }
  if (staging_bytes < chunk_bytes) return bad("staging memory must hold at least one chunk");
  if (staging_bytes / chunk_bytes > (1ull << 31)) return bad("too many staging chunks");
  if (zero_copy_wr_bytes < 4096 || zero_copy_wr_bytes > emu::kMaxMsgSize) {
    return bad("zero-copy WR size must be 4 KiB..2 GiB");
  }
  if (pipeline_depth < 1 || pipeline_depth > 64) return bad("pipeline depth must be 1..64");
  if (max_connections < 1) return bad("max connections must be >= 1");
  if (max_requests_per_connection < 1 || max_requests_per_connection > 256) {
    return bad("max requests per connection must be 1..256");
  }
  if (idle_timeout <= core::Duration::Zero()) return bad("idle timeout must be > 0");
  if (emu::MtuBytes(max_mtu) == 0) return bad("invalid MTU");
  if (max_rd_atomic < 1 || max_rd_atomic > emu::kMaxRdAtomic) return bad("max_rd_atomic 1..16");
  if (retry_cnt > 7 || rnr_retry > 7 || ack_timeout > 31) return bad("bad QP retry attributes");
  return core::Status::Ok();
}

RdmaServer::RdmaServer(emu::Device& device, RdmaServerOptions options)
    : device_(device), runtime_(device.runtime()), options_(std::move(options)) {}

core::Result<std::unique_ptr<RdmaServer>> RdmaServer::Create(emu::Device& device,
                                                             RdmaServerOptions options) {
  S3_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<RdmaServer> s(new RdmaServer(device, std::move(options)));
  S3_RETURN_IF_ERROR(s->Init());
  return s;
}

core::Status RdmaServer::Init() {
  S3_ASSIGN_OR_RETURN(pd_, device_.AllocPd());
  const uint64_t per_conn = uint64_t{options_.max_requests_per_connection} * options_.pipeline_depth;
  const uint64_t cqe = std::min<uint64_t>(emu::kMaxCqe, options_.max_connections * per_conn + 1024);
  S3_ASSIGN_OR_RETURN(cq_, device_.CreateCq(static_cast<int>(cqe)));
  chunk_count_ = options_.staging_bytes / options_.chunk_bytes;
  const uint64_t bytes = chunk_count_ * options_.chunk_bytes;
  // Not zero-filled: pages are touched only when a chunk is first used.
  staging_ = std::make_unique_for_overwrite<char[]>(bytes);
  S3_ASSIGN_OR_RETURN(staging_mr_, pd_->RegisterMemory(staging_.get(), bytes, emu::kAccessLocalWrite));
  free_chunks_.reserve(chunk_count_);
  // Handed out lowest index first (LIFO from the back).
  for (size_t i = chunk_count_; i > 0; --i) free_chunks_.push_back(static_cast<uint32_t>(i - 1));
  cq_->SetCompletionHandler([this] { OnCompletions(); });
  cq_->RequestNotify();
  return core::Status::Ok();
}

RdmaServer::~RdmaServer() {
  idle_timer_.Cancel();
  // Abandon every transfer: callbacks never run, memory registrations go before the PD.
  auto detach = [](const std::shared_ptr<TransferImpl>& t) {
    t->server = nullptr;
    t->conn = nullptr;
    t->cancelled = true;
    t->done = nullptr;
    t->sink = nullptr;
    t->zc_mr.reset();
    t->reader.reset();
    t->state = TransferImpl::State::kDone;
  };
  for (auto& [key, conn] : connections_) {
    for (auto& t : conn->running) detach(t);
    for (auto& t : conn->queued) detach(t);
    conn->qp.reset();
  }
  for (auto& [id, op] : ops_) detach(op.transfer);
  ops_.clear();
  connections_.clear();
  chunk_waiters_.clear();
  staging_mr_.reset();
  cq_.reset();
  pd_.reset();
}

char* RdmaServer::ChunkData(uint32_t chunk) const {
  return staging_.get() + uint64_t{chunk} * options_.chunk_bytes;
}

// ---- Connections ------------------------------------------------------------------------

core::Result<RcConnectParams> RdmaServer::Connect(const RcConnectParams& client,
                                                  const std::string& owner) {
  const ConnKey key{client.gid, client.qpn};
  if (connections_.count(key) != 0) {
    return RdmaError(kErrRdmaConnectionConflict,
                     "a connection for this (gid, qpn) exists; connect a new QP");
  }
  if (connections_.size() >= options_.max_connections) {
    return S3Error(S3Err::kSlowDown, "too many RDMA connections (limit " +
                                         std::to_string(options_.max_connections) + ")");
  }
  if (!emu::Ipv4FromGid(client.gid).ok()) {
    return S3Error(S3Err::kInvalidArgument, "x-s3rdma-rc: gid must be IPv4-mapped (::ffff:a.b.c.d)");
  }
  emu::QpInitAttr init;
  init.send_cq = cq_.get();
  init.recv_cq = cq_.get();
  init.cap.max_send_wr = options_.max_requests_per_connection * options_.pipeline_depth + 8;
  init.cap.max_recv_wr = 1;
  init.cap.max_send_sge = 1;
  init.cap.max_recv_sge = 1;
  init.cap.max_inline_data = 0;
  auto qp = pd_->CreateQp(init);
  if (!qp.ok()) return S3Error(S3Err::kInternalError, "create QP: " + qp.status().ToString());
  const emu::Mtu mtu = static_cast<emu::Mtu>(
      std::min(static_cast<uint32_t>(client.mtu), static_cast<uint32_t>(options_.max_mtu)));
  const uint32_t psn = static_cast<uint32_t>(Mix(options_.psn_seed ^ Mix(++psn_counter_))) & 0xffffff;
  emu::QpAttr a;
  a.qp_state = emu::QpState::kInit;
  a.qp_access_flags = 0;  // clients get no access to server memory
  int rc = (*qp)->Modify(a, emu::kQpAttrState | emu::kQpAttrAccessFlags);
  if (rc == 0) {
    a.path_mtu = mtu;
    a.dest_qp_num = client.qpn;
    a.dest_gid = client.gid;
    a.dest_udp_port = client.udp_port;
    a.rq_psn = client.psn;
    a.max_dest_rd_atomic = 1;
    a.min_rnr_timer = 12;
    a.sq_psn = psn;
    a.timeout = options_.ack_timeout;
    a.retry_cnt = options_.retry_cnt;
    a.rnr_retry = options_.rnr_retry;
    a.max_rd_atomic = options_.max_rd_atomic;
    rc = emu::ConnectRcQp(**qp, a);
  }
  if (rc != 0) {
    return S3Error(S3Err::kInvalidArgument,
                   "x-s3rdma-rc: the QP could not be connected with these values (errno " +
                       std::to_string(rc) + ")");
  }
  auto conn = std::make_unique<Connection>();
  conn->id = next_conn_id_++;
  conn->key = key;
  conn->owner = owner;
  conn->last_used = runtime_.Now();
  RcConnectParams reply;
  reply.qpn = (*qp)->qp_num();
  reply.psn = psn;
  reply.gid = device_.gid();
  reply.udp_port = device_.address().udp_port;
  reply.mtu = mtu;
  conn->qp = std::move(*qp);
  connections_.emplace(key, std::move(conn));
  ++stats_.connects;
  ScheduleIdleSweep();
  return reply;
}

core::Status RdmaServer::CheckConnection(const emu::Gid& gid, uint32_t qpn,
                                         const std::string& owner) const {
  auto it = connections_.find(ConnKey{gid, qpn});
  if (it == connections_.end() || it->second->owner != owner) {
    return RdmaError(kErrRdmaConnectionNotFound,
                     "no RDMA connection for QPN " + std::to_string(qpn) + " on " +
                         emu::GidToString(gid) + " owned by this access key; connect first");
  }
  return core::Status::Ok();
}

core::Status RdmaServer::Disconnect(const emu::Gid& gid, uint32_t qpn, const std::string& owner) {
  S3_RETURN_IF_ERROR(CheckConnection(gid, qpn, owner));
  ++stats_.disconnects;
  DestroyConnection(connections_.at(ConnKey{gid, qpn}).get(),
                    RdmaError(kErrRdmaConnectionNotFound, "the connection was closed by its owner"));
  return core::Status::Ok();
}

void RdmaServer::DestroyConnection(Connection* conn, const core::Status& why) {
  auto node = connections_.extract(conn->key);
  S3_CHECK(!node.empty() && node.mapped().get() == conn);
  std::unique_ptr<Connection> owned = std::move(node.mapped());
  // ERR stops all DMA at once (outstanding WRs are flushed); then the QP goes, so no chunk
  // or registered reader memory is touched by the NIC after this point.
  emu::QpAttr err;
  err.qp_state = emu::QpState::kErr;
  (void)owned->qp->Modify(err, emu::kQpAttrState);
  owned->qp.reset();
  for (auto it = ops_.begin(); it != ops_.end();) {
    TransferImpl& t = *it->second.transfer;
    if (t.conn_id == owned->id) {
      if (it->second.chunk >= 0) t.spare.push_back(static_cast<uint32_t>(it->second.chunk));
      --t.inflight;
      it = ops_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<std::shared_ptr<TransferImpl>> victims(owned->running.begin(), owned->running.end());
  victims.insert(victims.end(), owned->queued.begin(), owned->queued.end());
  owned->running.clear();
  owned->queued.clear();
  for (auto& t : victims) {
    t->conn = nullptr;  // as if already gone from connections_ (it was extracted above)
    // Chunks of READs that completed but could not be delivered in order.
    for (auto& [off, piece] : t->ready) t->spare.push_back(piece.first);
    t->ready.clear();
    if (t->error.ok()) t->error = why;
    FinishTransfer(t);
  }
}

void RdmaServer::ScheduleIdleSweep() {
  if (idle_timer_.Pending() || connections_.empty()) return;
  const core::Duration period =
      std::max(options_.idle_timeout / 4, core::Duration::Milliseconds(1));
  std::weak_ptr<char> alive = alive_;
  idle_timer_ = runtime_.After(period, [this, alive] {
    if (alive.expired()) return;
    IdleSweep();
  });
}

void RdmaServer::IdleSweep() {
  const core::Time now = runtime_.Now();
  std::vector<Connection*> idle;
  std::vector<Connection*> broken;
  for (auto& [key, conn] : connections_) {
    const bool busy = !conn->running.empty() || !conn->queued.empty();
    if (conn->qp->state() == emu::QpState::kErr) {
      broken.push_back(conn.get());
    } else if (!busy && now - conn->last_used >= options_.idle_timeout) {
      idle.push_back(conn.get());
    }
  }
  for (Connection* c : broken) {
    ++stats_.connections_failed;
    DestroyConnection(c, RdmaError(kErrRdmaTransferFailed, "the connection's QP is in error"));
  }
  for (Connection* c : idle) {
    ++stats_.connections_idle_closed;
    DestroyConnection(c, RdmaError(kErrRdmaConnectionNotFound, "idle connection closed"));
  }
  ScheduleIdleSweep();
}

}  // namespace s3rdma::proto
