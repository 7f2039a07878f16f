// S3Client: an asynchronous S3 client over HTTP/1.1 (Boost.Beast, included only by
// s3_client.cc) on a RealRuntime; the TCP implementation of S3Transport (s3_transport.h,
// where ClientOptions/ClientRequest/ClientResponse live). Requests are SigV4-signed (or
// anonymous, see client_common.h), path-style, and run one at a time, in order, over one
// keep-alive connection that is re-opened when the server closes it. Callbacks run on the
// runtime's thread.
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
#include "proto/s3_transport.h"
#include "proto/sigv4.h"

namespace s3rdma::proto {

class S3Client final : public S3Transport {
 public:
  S3Client(core::RealRuntime& runtime, ClientOptions options);
  ~S3Client() override;

  // Sends `request`; `done` gets the response, or an error: transport failures as
  // Unavailable, and S3 error replies (non-2xx) as S3 errors "Code: message" (unless
  // request.return_error_responses).
  void Send(ClientRequest request, Callback done) override;

  // The wall-clock time used for signing.
  int64_t NowUnix() const override;
  core::Runtime& runtime() override;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Blocking convenience for command-line tools: runs the runtime until `request` finishes.
core::Result<ClientResponse> SendAndWait(core::RealRuntime& runtime, S3Client& client,
                                         ClientRequest request);

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_S3_CLIENT_H_
