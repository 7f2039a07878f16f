// S3Service: the S3 REST protocol, independent of the transport.
//
// A transport (the Beast server in http_server.h, or a simulated byte stream) parses an
// HTTP request head into an HttpRequest and calls Start(). The returned S3Exchange says
// whether it wants the body (wants_body()); if so the transport answers "100 Continue" when
// the client asked for it, streams the body through OnBody(), and finally calls Finish() for
// the response. Authentication, routing and every up-front check (sizes, names) happen in
// Start(), so a request that is refused never has its body read.
//
// Time comes from core::Runtime (wall time = unix_time_at_runtime_zero + runtime.Now()), so
// the same code runs in virtual time. Threading: one thread (the runtime's); not thread-safe.
#ifndef S3RDMA_PROTO_S3_SERVICE_H_
#define S3RDMA_PROTO_S3_SERVICE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/runtime.h"
#include "core/status.h"
#include "proto/http_util.h"
#include "proto/object_store.h"
#include "proto/sigv4.h"

namespace s3rdma::proto {

struct ServiceConfig {
  std::string region = "us-east-1";
  AuthPolicy auth;  // anonymous access to everything: auth.allow_anonymous
  // Buckets whose objects anyone may GET/HEAD and list without signing (off by default).
  std::set<std::string> anonymous_read_buckets;
  // Host names whose sub-domains name a bucket (virtual-host addressing):
  // "bkt.localhost:9000" -> bucket "bkt". Other hosts use path-style addressing.
  std::vector<std::string> virtual_host_suffixes = {"localhost", "s3.localhost"};
  uint64_t max_object_bytes = 5ull << 30;  // single PUT and copy
  uint64_t max_part_bytes = 5ull << 30;
  uint64_t min_part_bytes = 5ull << 20;  // every part but the last (EntityTooSmall)
  uint64_t max_xml_body_bytes = 4ull << 20;
  uint64_t max_metadata_bytes = 2048;    // x-amz-meta-* names + values
  int64_t unix_time_at_runtime_zero = 0;  // wall clock = this + runtime.Now()
};

// What the transport sends back.
struct S3Response {
  int status = 200;
  HeaderList headers;  // without Content-Length (see content_length)
  std::string body;    // when reader is null
  // When set, the body is reader bytes [offset, offset + content_length).
  std::unique_ptr<ObjectReader> reader;
  uint64_t offset = 0;
  uint64_t content_length = 0;
  bool send_body = true;      // false for HEAD and 304: Content-Length describes, no body
  bool close_connection = false;
};

class S3Service;
class RdmaServer;

// One request in flight. Created by S3Service::Start; must not outlive the service.
class S3Exchange {
 public:
  virtual ~S3Exchange() = default;
  // True if the body should be read and passed to OnBody (then "100 Continue" is fine).
  virtual bool wants_body() const = 0;
  // Feeds body bytes (HTTP framing already removed). On error, stop feeding and Finish().
  virtual core::Status OnBody(std::string_view data) = 0;
  // The response. Called once, after the whole body (or after an OnBody error).
  virtual S3Response Finish() = 0;
  // The response, possibly later (an RDMA transfer runs first). Transports call this
  // instead of Finish(). `done` runs exactly once, on the runtime's thread, possibly before
  // FinishAsync returns. The transport keeps the exchange alive until `done` has run; if it
  // must drop the exchange earlier (the client went away), destroying it is safe and `done`
  // is then never called. Default: done(Finish()).
  virtual void FinishAsync(std::function<void(S3Response)> done) { done(Finish()); }
};

class S3Service {
 public:
  // `store` and `runtime` must outlive the service.
  S3Service(ServiceConfig config, ObjectStore& store, CredentialStore credentials,
            core::Runtime& runtime);
  ~S3Service();

  std::unique_ptr<S3Exchange> Start(HttpRequest request);

  // The RDMA data path (docs/protocol.md). nullptr (the default): requests carrying
  // x-amz-rdma-token and POST /?rdmaConnect are answered 501 NotImplemented. The server
  // must outlive the service (or be unset first) and run on the same runtime.
  void SetRdmaServer(RdmaServer* rdma) { rdma_ = rdma; }
  RdmaServer* rdma_server() const { return rdma_; }

  // Current wall-clock time in Unix seconds, from the runtime.
  int64_t NowUnix() const;
  const ServiceConfig& config() const { return config_; }
  ObjectStore& store() { return store_; }
  const CredentialStore& credentials() const { return credentials_; }
  uint64_t NextRequestId() { return ++request_counter_; }

  // Renders an S3 error response for `status` (any Status; non-S3 ones become InternalError).
  S3Response ErrorResponse(const core::Status& status, std::string_view resource);

 private:
  ServiceConfig config_;
  ObjectStore& store_;
  CredentialStore credentials_;
  core::Runtime& runtime_;
  uint64_t request_counter_ = 0;
  RdmaServer* rdma_ = nullptr;
  SigningKeyCache signing_keys_;  // the credentials' signing keys, derived once a day each

  std::unique_ptr<S3Exchange> StartUntagged(HttpRequest request);
};

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_S3_SERVICE_H_
