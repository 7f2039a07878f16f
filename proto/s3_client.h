// S3Client: an asynchronous S3 client over HTTP/1.1 (Boost.Beast, included only by
// s3_client.cc) on a RealRuntime. Requests are SigV4-signed (or anonymous), path-style,
// and run one at a time, in order, over one keep-alive connection that is re-opened when
// the server closes it. Callbacks run on the runtime's thread.
#ifndef S3RDMA_PROTO_S3_CLIENT_H_
#define S3RDMA_PROTO_S3_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/real_runtime.h"
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
  HeaderList headers;  // lowercase names
  std::string body;
  // If set, response body bytes go here as they arrive (2xx only) instead of into body.
  std::function<core::Status(std::string_view)> body_sink;
};

struct ClientResponse {
  int status = 0;
  HeaderList headers;
  std::string body;
  const std::string* Header(std::string_view name) const;
};

class S3Client {
 public:
  using Callback = std::function<void(core::Result<ClientResponse>)>;
  S3Client(core::RealRuntime& runtime, ClientOptions options);
  ~S3Client();

  // Sends `request`; `done` gets the response, or an error: transport failures as
  // Unavailable, and S3 error replies (non-2xx) as S3 errors "Code: message".
  void Send(ClientRequest request, Callback done);

  // The wall-clock time used for signing.
  int64_t NowUnix() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Blocking convenience for command-line tools: runs the runtime until `request` finishes.
core::Result<ClientResponse> SendAndWait(core::RealRuntime& runtime, S3Client& client,
                                         ClientRequest request);

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_S3_CLIENT_H_
