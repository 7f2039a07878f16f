// RdmaServer: the server side of the S3-over-RDMA data path (docs/protocol.md).
//
// Owns, on one emu::Device it borrows: a protection domain, one completion queue shared by
// every server QP, a registered staging pool, and the connection table keyed by the
// client's (GID, QPN) with the access key that connected it. S3Service asks it to connect
// and disconnect QPs (POST/DELETE /?rdmaConnect) and to run transfers:
// - StartWrite (GET): RDMA WRITEs object bytes into the client's buffer, zero copy from a
//   reader's Contiguous() memory (registered as an MR for the transfer's duration), else
//   pipelined: pread into staging chunks, each chunk written when filled, reused after its
//   completion.
// - StartRead (PUT/UploadPart): RDMA READs the client's buffer into staging chunks and hands
//   them, in order, to a sink (the store's writer).
// Staging memory is bounded: a transfer that cannot get a chunk waits in FIFO order.
// A failed completion (wrong rkey, retries exhausted, the client's QP gone) fails every
// transfer on that connection with RDMATransferFailed and destroys the connection.
// Nothing ever reads or writes outside [token.addr, token.addr + token.size).
//
// Threading: everything runs on the device's runtime thread; nothing blocks except the
// store's own reads (pread) and appends. Completion callbacks are always posted (never run
// inside the call that starts a transfer, never re-entrantly).
// Lifetime: the device must outlive the server; transfers still running when the server is
// destroyed are abandoned (their callbacks never run).
#ifndef S3RDMA_PROTO_RDMA_SERVER_H_
#define S3RDMA_PROTO_RDMA_SERVER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/runtime.h"
#include "core/status.h"
#include "core/time.h"
#include "emu/verbs.h"
#include "proto/object_store.h"
#include "proto/rdma_token.h"

namespace s3rdma::proto {

struct RdmaServerOptions {
  uint64_t staging_bytes = 256ull << 20;  // the whole registered staging pool
  uint64_t chunk_bytes = 1ull << 20;      // staging chunk = one RDMA WR of a staged transfer
  uint64_t zero_copy_wr_bytes = 1ull << 20;  // WR size for zero-copy GETs
  uint32_t pipeline_depth = 4;   // WRs (and staging chunks) one transfer keeps in flight
  size_t max_connections = 1024;  // beyond: 503 SlowDown
  uint32_t max_requests_per_connection = 8;  // transfers running at once per QP; more queue
  core::Duration idle_timeout = core::Duration::Seconds(600);
  emu::Mtu max_mtu = emu::Mtu::k4096;
  // Server QP transport attributes (ibverbs meanings; see emu/verbs.h).
  uint8_t ack_timeout = 14;  // 4.096 us * 2^14 = 67 ms
  uint8_t retry_cnt = 7;
  uint8_t rnr_retry = 7;
  uint8_t max_rd_atomic = 4;  // READs in flight per QP (the client's max_dest_rd_atomic >= 4)
  uint64_t psn_seed = 1;      // server initial PSNs derive from it (deterministic)
  // Planted bug `skip-token-range-check` (docs/dst.md; only with kPlantedBugsBuilt, else
  // ignored): a GET no longer checks that the object (or range) fits the token's buffer and
  // RDMA WRITEs all of it from the token's address on, past the token's end.
  bool plant_skip_token_range_check = false;

  core::Status Validate() const;
};

struct RdmaServerStats {
  uint64_t connects = 0;
  uint64_t disconnects = 0;
  uint64_t connections_failed = 0;  // destroyed after a failed completion
  uint64_t connections_idle_closed = 0;
  uint64_t writes = 0;  // GET transfers completed successfully
  uint64_t reads = 0;   // PUT transfers completed successfully
  uint64_t zero_copy_writes = 0;
  uint64_t transfer_failures = 0;
  uint64_t bytes_written = 0;
  uint64_t bytes_read = 0;
  uint64_t staging_waits = 0;        // times a transfer queued for a staging chunk
  uint64_t staging_chunks_peak = 0;  // most chunks in use at once
  uint64_t requests_queued = 0;      // transfers that waited for the per-connection limit
};

// A transfer in progress. Cancel() abandons it: its callbacks will not run; work already
// posted finishes in the background and its resources are returned.
class RdmaTransfer {
 public:
  virtual ~RdmaTransfer() = default;
  virtual void Cancel() = 0;
};

class RdmaServer {
 public:
  // REQUIRES: the device outlives the server. Registers the staging pool (allocated here).
  static core::Result<std::unique_ptr<RdmaServer>> Create(emu::Device& device,
                                                          RdmaServerOptions options = {});
  ~RdmaServer();
  RdmaServer(const RdmaServer&) = delete;
  RdmaServer& operator=(const RdmaServer&) = delete;

  // Creates a server QP connected to the client's: RESET->INIT->RTR->RTS. Returns the
  // server's side for the reply. Errors: InvalidArgument (GID not IPv4-mapped),
  // RDMAConnectionConflict (that (gid, qpn) is connected), SlowDown (connection limit).
  core::Result<RcConnectParams> Connect(const RcConnectParams& client, const std::string& owner);
  // Destroys the connection (running transfers fail). RDMAConnectionNotFound unless it
  // exists and `owner` connected it.
  core::Status Disconnect(const emu::Gid& gid, uint32_t qpn, const std::string& owner);
  // OK if (gid, qpn) is connected by `owner`, else RDMAConnectionNotFound.
  core::Status CheckConnection(const emu::Gid& gid, uint32_t qpn, const std::string& owner) const;

  // Outcome of a transfer: OK and the bytes moved, or RDMAConnectionNotFound (the
  // connection vanished), RDMATransferFailed, or the sink's/reader's error.
  using Done = std::function<void(core::Status status, uint64_t bytes)>;
  // Receives the bytes of a READ transfer, in order, in pieces of at most chunk_bytes.
  using Sink = std::function<core::Status(std::string_view piece)>;

  // GET: RDMA WRITEs reader bytes [offset, offset + length) to [token.addr, + length).
  // REQUIRES: length <= token.size, offset + length <= reader size.
  std::shared_ptr<RdmaTransfer> StartWrite(const RdmaToken& token, const std::string& owner,
                                           std::unique_ptr<ObjectReader> reader,
                                           uint64_t offset, uint64_t length, Done done);
  // PUT: RDMA READs [token.addr, + token.size) and passes it to `sink` in order.
  std::shared_ptr<RdmaTransfer> StartRead(const RdmaToken& token, const std::string& owner,
                                          Sink sink, Done done);

  uint32_t max_requests_per_connection() const { return options_.max_requests_per_connection; }
  size_t connection_count() const { return connections_.size(); }
  size_t staging_chunks_total() const { return chunk_count_; }
  size_t staging_chunks_free() const { return free_chunks_.size(); }
  const RdmaServerStats& stats() const { return stats_; }
  const RdmaServerOptions& options() const { return options_; }
  emu::Device& device() const { return device_; }

  class TransferImpl;  // internal
  struct Connection;   // internal

 private:
  friend class TransferImpl;
  using ConnKey = std::pair<emu::Gid, uint32_t>;
  // QPN first: GIDs of one subnet share a long prefix, so comparing them first costs a
  // 16-byte compare on every step of every lookup (~5% of a large protocol-mode run).
  struct ConnKeyLess {
    bool operator()(const ConnKey& a, const ConnKey& b) const {
      return a.second != b.second ? a.second < b.second : a.first < b.first;
    }
  };

  RdmaServer(emu::Device& device, RdmaServerOptions options);
  core::Status Init();

  std::shared_ptr<RdmaTransfer> Begin(std::shared_ptr<TransferImpl> t);
  void Launch(const std::shared_ptr<TransferImpl>& t);
  void Pump(const std::shared_ptr<TransferImpl>& t);
  void OnCompletions();
  void OnWorkCompletion(const emu::WorkCompletion& wc);
  void FinishTransfer(const std::shared_ptr<TransferImpl>& t);
  void DestroyConnection(Connection* conn, const core::Status& why);
  void ScheduleIdleSweep();
  void IdleSweep();
  // Staging pool.
  bool TryAcquireChunk(const std::shared_ptr<TransferImpl>& t, uint32_t* chunk);
  void ReleaseChunk(uint32_t chunk);
  void WakeChunkWaiters();
  char* ChunkData(uint32_t chunk) const;

  emu::Device& device_;
  core::Runtime& runtime_;
  RdmaServerOptions options_;
  RdmaServerStats stats_;
  std::unique_ptr<emu::ProtectionDomain> pd_;
  std::unique_ptr<emu::CompletionQueue> cq_;
  std::unique_ptr<char[]> staging_;
  std::unique_ptr<emu::MemoryRegion> staging_mr_;
  size_t chunk_count_ = 0;
  std::vector<uint32_t> free_chunks_;
  std::deque<std::weak_ptr<TransferImpl>> chunk_waiters_;  // FIFO
  std::map<ConnKey, std::unique_ptr<Connection>, ConnKeyLess> connections_;
  struct PendingOp {
    std::shared_ptr<TransferImpl> transfer;
    int64_t chunk = -1;  // staging chunk, or -1 (zero copy)
    uint64_t offset = 0;  // within the transfer
    uint32_t length = 0;
  };
  std::map<uint64_t, PendingOp> ops_;  // by wr_id
  bool wake_posted_ = false;
  uint64_t next_wr_id_ = 1;
  uint64_t next_conn_id_ = 1;
  uint32_t psn_counter_ = 0;
  core::TimerHandle idle_timer_;
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);
};

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_RDMA_SERVER_H_
