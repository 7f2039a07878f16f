// S3Transport: the seam between S3 client logic and how a request reaches a server.
//
// A transport takes a ClientRequest (method, bucket, key, query, headers, body), builds and
// signs the HTTP request (client_common.h: every transport signs exactly the same way), gets
// it to an S3 server and hands back the ClientResponse. Implementations:
// - S3Client (s3_client.h): HTTP/1.1 over TCP with Boost.Beast on a RealRuntime; one request
//   at a time per connection, so callers wanting parallelism hold several clients.
// - DirectTransport (direct_transport.h): calls an in-process S3Service directly, no sockets;
//   runs on any Runtime (VirtualRuntime for deterministic tests and simulation).
// Layers above (RdmaClient, the CLI, benchmarks) are written against this interface only.
//
// Contract: `done` runs exactly once, on the runtime's thread, never from inside Send()
// (always later, from a task on runtime()). Responses with a non-2xx status become an error
// Status ("Code: message" as an S3 error when the code is known, see ErrorFromReply) unless
// the request sets return_error_responses, in which case the caller gets the status, headers
// and error body to inspect. Transport failures (connection refused, reset) are Unavailable.
#ifndef S3RDMA_PROTO_S3_TRANSPORT_H_
#define S3RDMA_PROTO_S3_TRANSPORT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/runtime.h"
#include "core/status.h"
#include "proto/http_util.h"
#include "proto/sigv4.h"

namespace s3rdma::proto {

struct ClientOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 9000;
  bool anonymous = false;  // send unsigned requests
  Credential credential;
  std::string region = "us-east-1";
  int64_t unix_time_at_runtime_zero = 0;  // wall clock for x-amz-date = this + runtime.Now()
};

// Parses "http://HOST:PORT" (no TLS; a trailing '/' is fine).
core::Status ParseEndpoint(std::string_view endpoint, ClientOptions& options);

struct ClientRequest {
  std::string method = "GET";
  std::string bucket;  // empty: service level
  std::string key;     // raw (unencoded) key
  std::vector<std::pair<std::string, std::string>> query;  // unencoded
  // Lowercase names; all of them are signed. An "x-amz-content-sha256" given here (e.g.
  // UNSIGNED-PAYLOAD) is the payload hash signed; otherwise the SHA-256 of `body` is.
  HeaderList headers;
  std::string body;
  // If set, response body bytes go here as they arrive (2xx only) instead of into body.
  std::function<core::Status(std::string_view)> body_sink;
  // Non-2xx replies are returned as a ClientResponse (status, headers, error body) instead
  // of an error Status. Callers that must tell apart replies by status or header (the RDMA
  // client reads x-amz-rdma-reply on errors) set this.
  bool return_error_responses = false;
};

struct ClientResponse {
  int status = 0;
  HeaderList headers;  // lowercase names
  std::string body;
  const std::string* Header(std::string_view name) const;
};

class S3Transport {
 public:
  using Callback = std::function<void(core::Result<ClientResponse>)>;
  virtual ~S3Transport() = default;

  // Sends `request`; see the contract above.
  virtual void Send(ClientRequest request, Callback done) = 0;
  // The wall-clock time used for signing: options.unix_time_at_runtime_zero + runtime().Now().
  virtual int64_t NowUnix() const = 0;
  // The runtime callbacks run on.
  virtual core::Runtime& runtime() = 0;
};

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_S3_TRANSPORT_H_
