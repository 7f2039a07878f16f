// DirectTransport: an S3Transport that hands requests straight to an in-process S3Service,
// with no sockets, on any core::Runtime (VirtualRuntime for deterministic tests and the
// simulator, RealRuntime too).
//
// Each request is built and signed exactly like S3Client does (client_common.h), goes through
// S3Service::Start, OnBody (in body_chunk_bytes pieces, as an HTTP server would feed it) and
// FinishAsync (so an RDMA transfer the service starts completes before the reply), and the
// S3Response (string body or reader bytes) becomes the ClientResponse. Requests do not wait
// for each other (unlike one S3Client, which is one HTTP connection); a fixed one-way
// `latency` may be added in each direction to stand for the HTTP round trip.
//
// Callbacks are delivered from runtime tasks, never from inside Send(). Destroying the
// transport with requests in flight is safe: their callbacks are then never called.
// The service and runtime must outlive the transport. Single-threaded (the runtime's).
#ifndef S3RDMA_PROTO_DIRECT_TRANSPORT_H_
#define S3RDMA_PROTO_DIRECT_TRANSPORT_H_

#include <cstdint>
#include <memory>

#include "core/time.h"
#include "proto/s3_service.h"
#include "proto/s3_transport.h"

namespace s3rdma::proto {

struct DirectTransportOptions {
  core::Duration latency = core::Duration::Zero();  // one way, request and response each
  size_t body_chunk_bytes = 64 << 10;               // OnBody piece size (>= 1)
  // > 0: each OnBody piece after the first is fed in its own runtime event this long after
  // the previous one (a body still arriving), so destroying the transport, e.g. a simulated
  // crash, can cut an upload in the middle. 0: the whole body in one event.
  core::Duration body_chunk_interval = core::Duration::Zero();
};

struct DirectTransportStats {
  uint64_t requests = 0;
  uint64_t responses = 0;
  uint64_t bytes_sent = 0;      // request bodies
  uint64_t bytes_received = 0;  // response bodies
};

class DirectTransport final : public S3Transport {
 public:
  // `runtime` is the service's runtime (requests run on it).
  DirectTransport(S3Service& service, core::Runtime& runtime, ClientOptions options,
                  DirectTransportOptions direct = {});
  ~DirectTransport() override;
  DirectTransport(const DirectTransport&) = delete;
  DirectTransport& operator=(const DirectTransport&) = delete;

  void Send(ClientRequest request, Callback done) override;
  int64_t NowUnix() const override;
  core::Runtime& runtime() override { return runtime_; }

  const DirectTransportStats& stats() const { return *stats_; }
  // Requests sent whose callback has not run yet.
  uint64_t in_flight() const { return stats_->requests - stats_->responses; }

 private:
  struct Call;
  void Run(std::shared_ptr<Call> call);
  void FeedBody(std::shared_ptr<Call> call, size_t offset);
  void Finish(std::shared_ptr<Call> call);
  void Deliver(std::shared_ptr<Call> call, core::Result<ClientResponse> result);

  S3Service& service_;
  core::Runtime& runtime_;
  ClientOptions options_;
  DirectTransportOptions direct_;
  // Shared with scheduled tasks: they check `alive` before touching the transport.
  std::shared_ptr<DirectTransportStats> stats_;
  std::shared_ptr<bool> alive_;
};

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_DIRECT_TRANSPORT_H_
