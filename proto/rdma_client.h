// RdmaClient: the S3-over-RDMA client (docs/protocol.md; DESIGN.md "The S3-over-RDMA wire
// protocol"). Object bytes move by RDMA between the server and buffers the caller registered
// once; the S3 requests that start them go over S3Transports (HTTP via S3Client, or
// in-process via DirectTransport).
//
// - RegisterBuffer() registers caller memory once (local write, remote read and write); the
//   RdmaBuffer is reused for any number of requests.
// - Get() asks the server to RDMA WRITE an object (or a Range of it) into
//   [buffer + offset, +length) (by default to the buffer's end); Put()/UploadPart() to RDMA
//   READ [buffer + offset, +length). The token names exactly that window, so the server may
//   touch nothing else of the registered buffer.
//   CreateUpload()/CompleteUpload() are plain S3 requests over the same transports.
// - Connections: up to `connections` RC queue pairs to the server, each set up lazily by an
//   authenticated POST /?rdmaConnect before its first request (409 conflict: a new QP is tried).
//   Requests are spread over connections and transports by load, any number outstanding.
// - Recovery: a reply of RDMATransferFailed or RDMAConnectionNotFound means the QP is dead on
//   the server: the client destroys it, reconnects and retries the request once.
// - Timeout: with request_timeout > 0, a request not finished in time fails with
//   DeadlineExceeded, and the connection it was on is moved to the error state and dropped
//   first (as a real client must: only a QP in error guarantees the server can no longer
//   RDMA into or out of the buffer), so the caller may reuse the buffer at once. The
//   server may still complete the request (a PUT may be stored): its outcome is unknown.
//   Other requests on that connection see RDMATransferFailed and are retried once.
// - Fallback: with fallback_to_http, a 501 (server without RDMA, token declined) redoes the
//   request over plain HTTP (GET into the same buffer, PUT from it). Off by default.
//
// One RdmaClient talks to one server. Threading: everything on the device's runtime thread;
// callbacks run there, never inside the call that started the request.
// Ownership: the device and the transports outlive the client; RdmaBuffers must be destroyed
// before the client (their memory regions belong to its protection domain); a buffer must stay
// alive and its bytes untouched (PUT) / unread (GET) until the request's callback ran.
// Destroying the client with requests in flight drops their callbacks.
#ifndef S3RDMA_PROTO_RDMA_CLIENT_H_
#define S3RDMA_PROTO_RDMA_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/status.h"
#include "emu/verbs.h"
#include "proto/http_util.h"
#include "proto/object_store.h"
#include "proto/s3_transport.h"

namespace s3rdma::proto {

// A registered region of caller memory (the caller owns the memory; see RdmaClient).
class RdmaBuffer {
 public:
  RdmaBuffer() = default;
  RdmaBuffer(RdmaBuffer&&) = default;
  RdmaBuffer& operator=(RdmaBuffer&&) = default;

  char* data() const { return data_; }
  size_t size() const { return size_; }
  uint32_t rkey() const { return mr_ ? mr_->rkey() : 0; }
  bool valid() const { return mr_ != nullptr; }

 private:
  friend class RdmaClient;
  std::unique_ptr<emu::MemoryRegion> mr_;
  char* data_ = nullptr;
  size_t size_ = 0;
};

struct RdmaClientOptions {
  int connections = 1;  // RC connections (QPs) to the server, 1..64, opened lazily
  emu::Mtu mtu = emu::Mtu::k4096;
  bool fallback_to_http = false;  // on HTTP 501, redo the request over plain HTTP
  int max_connect_attempts = 3;   // per connect, on 409 RDMAConnectionConflict
  // Client QP attributes (the client is the responder of the server's WRITE/READ).
  uint8_t min_rnr_timer = 1;
  uint8_t max_dest_rd_atomic = emu::kMaxRdAtomic;
  uint64_t seed = 1;  // initial PSNs are drawn from it
  // Per request, from the call to the callback (connect included); 0: no timeout.
  core::Duration request_timeout = core::Duration::Zero();
  // Planted bug (docs/dst.md `get-token-whole-buffer`; no effect unless built with
  // S3RDMA_PLANT_BUGS): a Get with a length still hands the server the rest of the buffer,
  // as the length-less API did, so a server serving an object longer than the bytes asked
  // writes past them into the caller's other memory.
  bool plant_get_token_whole_buffer = false;

  core::Status Validate() const;
};

// The outcome of one request.
struct RdmaResult {
  int status = 0;        // 200, or 206 for a ranged GET
  uint64_t bytes = 0;    // bytes moved into/out of the buffer
  std::string etag;      // as the server sent it (quoted)
  bool via_rdma = true;  // false: fell back to plain HTTP (or a plain request)
  HeaderList headers;    // the reply's headers
};

struct RdmaClientStats {
  uint64_t requests = 0;        // Get/Put/UploadPart calls
  uint64_t rdma_done = 0;       // answered x-amz-rdma-reply 200/206
  uint64_t http_fallbacks = 0;  // redone over plain HTTP
  uint64_t connects = 0;        // connections established
  uint64_t connect_conflicts = 0;
  uint64_t reconnects = 0;      // QPs dropped after RDMATransferFailed/ConnectionNotFound
  uint64_t retries = 0;         // requests retried on a new QP
  uint64_t failures = 0;        // callbacks with an error
  uint64_t timeouts = 0;        // requests that hit request_timeout
  // The summed counters of the QPs this client has destroyed: dropped after a failure,
  // replaced after a conflict, or given up on. RdmaClient::QpCounters adds the live ones.
  emu::QpStats destroyed_qps;
};

struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive, as in "Range: bytes=first-last"
};

class RdmaClient {
 public:
  using Callback = std::function<void(core::Result<RdmaResult>)>;

  // `transports` reach one server (at least one; several let requests overlap on S3Client,
  // which runs one request at a time per HTTP connection). All on device.runtime().
  static core::Result<std::unique_ptr<RdmaClient>> Create(emu::Device& device,
                                                          std::vector<S3Transport*> transports,
                                                          RdmaClientOptions options = {});
  ~RdmaClient();
  RdmaClient(const RdmaClient&) = delete;
  RdmaClient& operator=(const RdmaClient&) = delete;

  // Registers [addr, addr+length) (length >= 1).
  core::Result<RdmaBuffer> RegisterBuffer(void* addr, size_t length);

  // GET into [buffer.data() + offset, buffer end). The object (or range) must fit: else the
  // server answers 400 RDMABufferTooSmall. `headers` are extra request headers.
  void Get(const std::string& bucket, const std::string& key, std::optional<ByteRange> range,
           const RdmaBuffer& buffer, uint64_t offset, Callback done, HeaderList headers = {});
  // GET into [buffer.data() + offset, +length) only (length >= 1, inside the buffer; else the
  // callback gets InvalidArgument): the token carries this window, the rest of the registered
  // buffer is not the server's to write. Typically length = the bytes asked for (a Range's
  // length), so the object must fit in it (else 400 RDMABufferTooSmall).
  void Get(const std::string& bucket, const std::string& key, std::optional<ByteRange> range,
           const RdmaBuffer& buffer, uint64_t offset, uint64_t length, Callback done,
           HeaderList headers = {});
  // PUT of [buffer.data() + offset, +length); `headers` e.g. content-type, x-amz-meta-*,
  // content-md5, x-amz-checksum-*.
  void Put(const std::string& bucket, const std::string& key, const RdmaBuffer& buffer,
           uint64_t offset, uint64_t length, HeaderList headers, Callback done);
  // Multipart: Create and Complete are plain S3 requests; parts move by RDMA.
  void CreateUpload(const std::string& bucket, const std::string& key, HeaderList headers,
                    std::function<void(core::Result<std::string>)> done);
  void UploadPart(const std::string& bucket, const std::string& key, const std::string& upload_id,
                  int part_number, const RdmaBuffer& buffer, uint64_t offset, uint64_t length,
                  Callback done);
  void CompleteUpload(const std::string& bucket, const std::string& key,
                      const std::string& upload_id, const std::vector<CompletedPart>& parts,
                      Callback done);

  // Disconnects every connected QP (DELETE /?rdmaConnect), then runs `done`. Requests still
  // in flight are not waited for.
  void Close(std::function<void()> done);

  int connected() const;  // connections in the ready state
  const RdmaClientStats& stats() const { return stats_; }
  // The server answered 501 to a connect: it has no RDMA.
  bool server_without_rdma() const { return no_rdma_; }
  // Moves connection `index`'s QP to the error state, as a NIC failure would (tests).
  void BreakConnectionForTesting(int index);
  emu::QueuePair* QpForTesting(int index);
  // Every QP's counters over the client's life: stats().destroyed_qps plus the QPs that
  // exist now (connected, or dropped and not yet destroyed). Packets lost on a QP that was
  // later dropped still show here (as its sequence NAKs and duplicates).
  emu::QpStats QpCounters() const;

 private:
  struct Op;
  struct Conn;
  RdmaClient(emu::Device& device, std::vector<S3Transport*> transports, RdmaClientOptions options);

  void PutImpl(const std::string& bucket, const std::string& key,
               std::vector<std::pair<std::string, std::string>> query, const RdmaBuffer& buffer,
               uint64_t offset, uint64_t length, HeaderList headers, Callback done);
  void Dispatch(std::shared_ptr<Op> op);
  void Connect(int index);
  // POST (connect) or DELETE (disconnect) /?rdmaConnect describing connection `c`'s QP.
  ClientRequest ConnectRequest(const Conn& c, const char* method) const;
  void OnConnectReply(int index, uint64_t generation, core::Result<ClientResponse> reply);
  void FailWaiting(int index, const core::Status& status);
  void Issue(std::shared_ptr<Op> op, int index);
  void OnReply(std::shared_ptr<Op> op, int index, uint64_t generation,
               core::Result<ClientResponse> reply);
  void DropConnection(int index);
  // Destroys `qp` (if any) after adding its counters to stats_.destroyed_qps.
  void DestroyQp(std::unique_ptr<emu::QueuePair>& qp);
  void DestroyRetired(Conn& c);
  void ViaHttp(std::shared_ptr<Op> op);
  void Finish(const std::shared_ptr<Op>& op, core::Result<RdmaResult> result);
  // Arms op's request_timeout (if any).
  void StartTimer(const std::shared_ptr<Op>& op);
  void TimeOut(const std::shared_ptr<Op>& op);
  int PickTransport();
  void SendOn(int transport, ClientRequest request, S3Transport::Callback done);
  void Later(std::function<void()> task);

  emu::Device& device_;
  std::vector<S3Transport*> transports_;
  std::vector<int> transport_load_;
  RdmaClientOptions options_;
  core::Rng rng_;
  std::unique_ptr<emu::ProtectionDomain> pd_;
  std::unique_ptr<emu::CompletionQueue> cq_;
  std::vector<std::unique_ptr<Conn>> conns_;
  bool no_rdma_ = false;
  RdmaClientStats stats_;
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);
};

// The client's RDMA node address for a command-line spec "udp" or "udp:ADDR[:PORT]" when the
// server is `server_host`. Without ADDR, a loopback server ("localhost", 127.0.0.0/8) gets a
// per-process loopback address 127.x.y.z derived from `pid` (two client processes on one
// host must not share a GID: docs/protocol.md); another server needs ADDR (InvalidArgument).
// The port is PORT, or 0 (ephemeral) when not given.
core::Result<emu::NodeAddress> ClientRdmaAddress(std::string_view spec,
                                                 std::string_view server_host, int pid);

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_RDMA_CLIENT_H_
