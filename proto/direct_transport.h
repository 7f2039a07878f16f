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
// Two seams let a simulator carry bodies over a modelled network (sim/protocol_parts.h):
// a per-request `body_crossing` hook that holds a body while it "crosses" (the request body
// after the service accepted the head, an object response body before it is delivered), and
// phantom bodies (sizes without bytes) for simulations too large to hold the objects. Both
// still run every request through the real service: auth, routing, checks, store calls.
//
// Callbacks are delivered from runtime tasks, never from inside Send(). Destroying the
// transport with requests in flight is safe: their callbacks are then never called.
// The service and runtime must outlive the transport. Single-threaded (the runtime's).
#ifndef S3RDMA_PROTO_DIRECT_TRANSPORT_H_
#define S3RDMA_PROTO_DIRECT_TRANSPORT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

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
  // Phantom payloads: response bodies that come from an object reader (object bytes) are
  // not read. The response has an empty body and the object's Content-Length, body_sink is
  // not called, and stats().bytes_received counts them. For stores whose readers have no
  // bytes behind them (sim::PhantomStore). String bodies (errors, XML) arrive as usual.
  bool phantom_bodies = false;
};

enum class BodyDirection { kRequest, kResponse };

// Per-request extras of DirectTransport::Send (simulation seams; defaults: none).
struct DirectRequestExtras {
  // > 0: the request body is this many bytes that exist nowhere (phantom payloads; then
  // request.body must be empty). Content-Length says phantom_body_bytes, the payload is
  // signed as UNSIGNED-PAYLOAD unless the request names its own x-amz-content-sha256, and
  // the service is fed that many zero bytes in body_chunk_bytes pieces of one shared zero
  // buffer: it checks, hashes and stores them as it would real ones (as the RDMA server
  // hands a phantom READ's staging bytes to the same PUT code).
  uint64_t phantom_body_bytes = 0;
  // When set, called when a body is about to cross the network: kRequest with the body
  // size once the service has accepted the request head (wants_body) and before the body is
  // fed to it; kResponse with the object size before a reader-backed response body (a GET's
  // object bytes; not error or XML bodies) is handed to the caller. The body moves on when
  // `go` runs, which must be from a runtime task (not inside the hook). If the transport is
  // destroyed before, the request is dropped as usual.
  std::function<void(BodyDirection direction, uint64_t bytes, std::function<void()> go)> body_crossing;
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
  // Send with the simulation extras above. REQUIRES: extras.phantom_body_bytes == 0 or
  // request.body is empty.
  void Send(ClientRequest request, Callback done, DirectRequestExtras extras);
  int64_t NowUnix() const override;
  core::Runtime& runtime() override { return runtime_; }

  const DirectTransportStats& stats() const { return *stats_; }
  // Requests sent whose callback has not run yet.
  uint64_t in_flight() const { return stats_->requests - stats_->responses; }

 private:
  struct Call;
  void Run(std::shared_ptr<Call> call);
  void SendBody(std::shared_ptr<Call> call);
  void FeedBody(std::shared_ptr<Call> call, size_t offset);
  void Finish(std::shared_ptr<Call> call);
  void Respond(std::shared_ptr<Call> call, std::shared_ptr<S3Response> response);
  void Deliver(std::shared_ptr<Call> call, core::Result<ClientResponse> result);

  S3Service& service_;
  core::Runtime& runtime_;
  ClientOptions options_;
  SigningKeyCache signing_keys_;
  DirectTransportOptions direct_;
  // Shared with scheduled tasks: they check `alive` before touching the transport.
  std::shared_ptr<DirectTransportStats> stats_;
  std::shared_ptr<bool> alive_;
  std::shared_ptr<const std::string> zeros_;  // phantom request bodies, created on first use
};

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_DIRECT_TRANSPORT_H_
