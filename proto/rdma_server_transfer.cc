// RdmaServer: the transfer engine (posting WRs, completions, the staging pool).
//
// A transfer posts at most pipeline_depth WRs at once. Zero-copy GETs post straight from
// the reader's registered memory; staged transfers use one staging chunk per WR and reuse
// their own chunks after each completion, taking new ones from the pool only when nobody
// waits ahead of them (FIFO). A transfer finishes only when none of its WRs is in flight
// (or its QP is gone), so a chunk is never reused while the NIC may still touch it.
#include <algorithm>
#include <string>

#include "core/check.h"
#include "proto/fs_store.h"  // kPlantedBugsBuilt
#include "proto/internal/rdma_server_impl.h"
#include "proto/rdma_server.h"
#include "proto/s3_error.h"

namespace s3rdma::proto {

std::shared_ptr<RdmaTransfer> RdmaServer::StartWrite(const RdmaToken& token,
                                                     const std::string& owner,
                                                     std::unique_ptr<ObjectReader> reader,
                                                     uint64_t offset, uint64_t length, Done done) {
  S3_CHECK(length <= token.size ||
           (kPlantedBugsBuilt && options_.plant_skip_token_range_check));
  auto t = std::make_shared<TransferImpl>();
  t->kind = TransferImpl::Kind::kWrite;
  t->reader = std::move(reader);
  t->read_offset = offset;
  t->total = length;
  t->key = ConnKey{token.desc.gid, token.desc.qpn};
  t->owner = owner;
  t->remote_addr = token.addr;
  t->rkey = token.desc.rkey;
  t->done = std::move(done);
  return Begin(std::move(t));
}

std::shared_ptr<RdmaTransfer> RdmaServer::StartRead(const RdmaToken& token,
                                                    const std::string& owner, Sink sink,
                                                    Done done) {
  auto t = std::make_shared<TransferImpl>();
  t->kind = TransferImpl::Kind::kRead;
  t->sink = std::move(sink);
  t->total = token.size;
  t->key = ConnKey{token.desc.gid, token.desc.qpn};
  t->owner = owner;
  t->remote_addr = token.addr;
  t->rkey = token.desc.rkey;
  t->done = std::move(done);
  return Begin(std::move(t));
}

std::shared_ptr<RdmaTransfer> RdmaServer::Begin(std::shared_ptr<TransferImpl> t) {
  t->server = this;
  auto it = connections_.find(t->key);
  if (it == connections_.end() || it->second->owner != t->owner) {
    t->error = CheckConnection(t->key.first, t->key.second, t->owner);
    FinishTransfer(t);
    return t;
  }
  Connection& conn = *it->second;
  conn.last_used = runtime_.Now();
  t->conn_id = conn.id;
  t->conn = &conn;
  if (conn.running.size() < options_.max_requests_per_connection) {
    Launch(t);
  } else {
    t->state = TransferImpl::State::kQueued;
    conn.queued.push_back(t);
    ++stats_.requests_queued;
  }
  return t;
}

void RdmaServer::Launch(const std::shared_ptr<TransferImpl>& t) {
  S3_CHECK(t->conn != nullptr && t->conn->id == t->conn_id);
  Connection& conn = *t->conn;
  t->state = TransferImpl::State::kRunning;
  conn.running.push_back(t);
  if (t->kind == TransferImpl::Kind::kWrite && t->total > 0) {
    if (auto view = t->reader->Contiguous()) {
      // Zero copy: register exactly the bytes this GET sends, for the transfer's duration.
      char* base = const_cast<char*>(view->data()) + t->read_offset;
      auto mr = pd_->RegisterMemory(base, t->total, 0);
      if (mr.ok()) {
        t->zc_mr = std::move(*mr);
        t->zc_base = base;
      }
    }
  }
  Pump(t);
}

bool RdmaServer::TryAcquireChunk(const std::shared_ptr<TransferImpl>& t, uint32_t* chunk) {
  // Waiters that finished or were cancelled leave the line lazily.
  while (!chunk_waiters_.empty()) {
    std::shared_ptr<TransferImpl> w = chunk_waiters_.front().lock();
    if (w && w->state == TransferImpl::State::kRunning && w->waiting_chunk) break;
    if (w) w->waiting_chunk = false;
    chunk_waiters_.pop_front();
  }
  const bool first_in_line = !chunk_waiters_.empty() && chunk_waiters_.front().lock() == t;
  if (!free_chunks_.empty() && (chunk_waiters_.empty() || first_in_line)) {
    if (first_in_line) {
      chunk_waiters_.pop_front();
      t->waiting_chunk = false;
    }
    *chunk = free_chunks_.back();
    free_chunks_.pop_back();
    stats_.staging_chunks_peak =
        std::max<uint64_t>(stats_.staging_chunks_peak, chunk_count_ - free_chunks_.size());
    return true;
  }
  // A transfer with WRs in flight progresses by reusing its own chunks; only one that has
  // nothing in flight must queue for the pool.
  if (!t->waiting_chunk && t->inflight == 0) {
    t->waiting_chunk = true;
    chunk_waiters_.push_back(t);
    ++stats_.staging_waits;
  }
  return false;
}

void RdmaServer::ReleaseChunk(uint32_t chunk) {
  free_chunks_.push_back(chunk);
  WakeChunkWaiters();
}

void RdmaServer::WakeChunkWaiters() {
  if (chunk_waiters_.empty() || wake_posted_) return;
  wake_posted_ = true;
  std::weak_ptr<char> alive = alive_;
  runtime_.Post([this, alive] {
    if (alive.expired()) return;
    wake_posted_ = false;
    while (!free_chunks_.empty() && !chunk_waiters_.empty()) {
      std::shared_ptr<TransferImpl> w = chunk_waiters_.front().lock();
      if (!w || w->state != TransferImpl::State::kRunning || !w->waiting_chunk) {
        chunk_waiters_.pop_front();
        if (w) w->waiting_chunk = false;
        continue;
      }
      Pump(w);
      // Pump takes the chunk (and leaves the line) unless the transfer stopped meanwhile.
      if (!chunk_waiters_.empty() && chunk_waiters_.front().lock() == w) {
        chunk_waiters_.pop_front();
        w->waiting_chunk = false;
      }
    }
  });
}

void RdmaServer::Pump(const std::shared_ptr<TransferImpl>& t) {
  if (t->state == TransferImpl::State::kDone) return;
  if (t->state == TransferImpl::State::kQueued) {
    // Only a cancellation gets here: leave the queue.
    if (t->cancelled) FinishTransfer(t);
    return;
  }
  if (t->conn == nullptr) return;  // the connection is being destroyed
  Connection& conn = *t->conn;
  const bool write = t->kind == TransferImpl::Kind::kWrite;
  const bool zero_copy = t->zc_mr != nullptr;
  const uint64_t wr_bytes = zero_copy ? options_.zero_copy_wr_bytes : options_.chunk_bytes;
  while (!t->cancelled && t->error.ok() && t->posted < t->total &&
         t->inflight < options_.pipeline_depth) {
    const uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(wr_bytes, t->total - t->posted));
    int64_t chunk = -1;
    emu::Sge sge;
    sge.length = len;
    if (zero_copy) {
      sge.addr = reinterpret_cast<uint64_t>(t->zc_base + t->posted);
      sge.lkey = t->zc_mr->lkey();
    } else {
      uint32_t c = 0;
      if (!t->spare.empty()) {
        c = t->spare.back();
        t->spare.pop_back();
      } else if (!TryAcquireChunk(t, &c)) {
        break;
      }
      chunk = c;
      char* data = ChunkData(c);
      if (write) {
        // Pipelined: this pread overlaps the WRITEs already in flight.
        uint32_t got = 0;
        while (got < len) {
          auto n = t->reader->Read(t->read_offset + t->posted + got, data + got, len - got);
          if (!n.ok() || *n == 0) {
            t->error = n.ok() ? S3Error(S3Err::kInternalError, "the object shrank while read")
                              : n.status();
            break;
          }
          got += static_cast<uint32_t>(*n);
        }
        if (!t->error.ok()) {
          t->spare.push_back(c);
          break;
        }
      }
      sge.addr = reinterpret_cast<uint64_t>(data);
      sge.lkey = staging_mr_->lkey();
    }
    emu::SendWr wr;
    wr.wr_id = next_wr_id_++;
    wr.opcode = write ? emu::WrOpcode::kRdmaWrite : emu::WrOpcode::kRdmaRead;
    wr.send_flags = emu::kSendSignaled;
    wr.sg_list = std::span<const emu::Sge>(&sge, 1);
    wr.rdma.remote_addr = t->remote_addr + t->posted;
    wr.rdma.rkey = t->rkey;
    if (const int rc = conn.qp->PostSend(wr); rc != 0) {
      t->error = RdmaError(kErrRdmaTransferFailed,
                           "posting the RDMA work request failed (errno " + std::to_string(rc) + ")");
      if (chunk >= 0) t->spare.push_back(static_cast<uint32_t>(chunk));
      break;
    }
    ops_.emplace(wr.wr_id, PendingOp{t, chunk, t->posted, len});
    t->posted += len;
    ++t->inflight;
  }
  const bool stopped = t->cancelled || !t->error.ok();
  if (t->inflight == 0 && (stopped || t->completed == t->total)) FinishTransfer(t);
}

void RdmaServer::OnCompletions() {
  emu::WorkCompletion wcs[64];
  for (;;) {
    const int n = cq_ ? cq_->Poll(wcs) : 0;
    for (int i = 0; i < n; ++i) OnWorkCompletion(wcs[i]);
    if (n > 0) continue;
    // Re-arm, then look again: a completion added before arming posted no notification.
    cq_->RequestNotify();
    if (cq_->size() == 0) break;
  }
}

void RdmaServer::OnWorkCompletion(const emu::WorkCompletion& wc) {
  auto it = ops_.find(wc.wr_id);
  if (it == ops_.end()) return;  // flushed WR of a connection already destroyed
  PendingOp op = std::move(it->second);
  ops_.erase(it);
  std::shared_ptr<TransferImpl> t = std::move(op.transfer);
  --t->inflight;
  const bool write = t->kind == TransferImpl::Kind::kWrite;
  if (wc.status != emu::WcStatus::kSuccess) {
    if (op.chunk >= 0) t->spare.push_back(static_cast<uint32_t>(op.chunk));
    const core::Status st = RdmaError(
        kErrRdmaTransferFailed,
        std::string(write ? "RDMA WRITE" : "RDMA READ") + " to the client's buffer failed: " +
            emu::WcStatusName(wc.status) + "; the connection is closed, reconnect");
    if (t->conn != nullptr) {
      // RC semantics: the QP is in ERR; every other request on it fails too.
      ++stats_.connections_failed;
      t->error = st;
      DestroyConnection(t->conn, st);
    } else {
      if (t->error.ok()) t->error = st;
      Pump(t);
    }
    return;
  }
  if (write) {
    t->completed += op.length;
    if (op.chunk >= 0) t->spare.push_back(static_cast<uint32_t>(op.chunk));
  } else {
    t->ready.emplace(op.offset, std::make_pair(static_cast<uint32_t>(op.chunk), op.length));
    // READ completions arrive in order on RC; the map only guards the invariant.
    while (!t->ready.empty() && t->ready.begin()->first == t->delivered) {
      const auto [chunk, len] = t->ready.begin()->second;
      t->ready.erase(t->ready.begin());
      if (!t->cancelled && t->error.ok() && t->sink) {
        core::Status st = t->sink(std::string_view(ChunkData(chunk), len));
        if (!st.ok()) t->error = st;
      }
      t->delivered += len;
      t->completed += len;
      t->spare.push_back(chunk);
    }
  }
  Pump(t);
}

void RdmaServer::FinishTransfer(const std::shared_ptr<TransferImpl>& t) {
  if (t->state == TransferImpl::State::kDone) return;
  const TransferImpl::State was = t->state;
  t->state = TransferImpl::State::kDone;
  Connection* conn = t->conn;
  t->conn = nullptr;
  if (conn != nullptr) {
    if (was == TransferImpl::State::kRunning) {
      std::erase(conn->running, t);
    } else if (was == TransferImpl::State::kQueued) {
      std::erase(conn->queued, t);
    }
    conn->last_used = runtime_.Now();
  }
  S3_CHECK(t->inflight == 0);
  for (auto& [off, piece] : t->ready) t->spare.push_back(piece.first);
  t->ready.clear();
  for (uint32_t c : t->spare) free_chunks_.push_back(c);
  const bool released = !t->spare.empty();
  t->spare.clear();
  t->zc_mr.reset();
  t->reader.reset();
  t->sink = nullptr;
  if (!t->cancelled) {
    core::Status st = t->error;
    if (st.ok() && t->completed != t->total) {
      st = S3Error(S3Err::kInternalError, "RDMA transfer ended early");
    }
    if (st.ok()) {
      if (t->kind == TransferImpl::Kind::kWrite) {
        ++stats_.writes;
        stats_.bytes_written += t->total;
        if (t->zc_base != nullptr) ++stats_.zero_copy_writes;
      } else {
        ++stats_.reads;
        stats_.bytes_read += t->total;
      }
    } else {
      ++stats_.transfer_failures;
    }
    const uint64_t bytes = st.ok() ? t->completed : 0;
    runtime_.Post([t, st, bytes] {
      if (t->cancelled || !t->done) return;
      Done d = std::move(t->done);
      t->done = nullptr;
      d(st, bytes);
    });
  }
  if (released || t->waiting_chunk) WakeChunkWaiters();
  // The freed slot goes to the next queued request of this connection.
  if (conn != nullptr && was == TransferImpl::State::kRunning) {
    while (!conn->queued.empty() && conn->running.size() < options_.max_requests_per_connection) {
      std::shared_ptr<TransferImpl> next = std::move(conn->queued.front());
      conn->queued.pop_front();
      Launch(next);
      // Launch may have finished it at once and destroyed nothing else: conn stays valid
      // (only DestroyConnection removes connections, and Launch never calls it).
    }
  }
}

}  // namespace s3rdma::proto
