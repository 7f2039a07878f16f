// Internals of S3Service shared by its .cc files (s3_service*.cc). Not a public header.
#ifndef S3RDMA_PROTO_INTERNAL_S3_OPS_H_
#define S3RDMA_PROTO_INTERNAL_S3_OPS_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "proto/rdma_token.h"
#include "proto/s3_service.h"

namespace s3rdma::proto::internal {

// A routed, authenticated request.
struct RequestContext {
  S3Service* service = nullptr;
  HttpRequest req;
  AuthResult auth;
  std::string bucket;  // decoded; empty for service-level requests
  std::string key;     // decoded; empty for bucket-level requests
  std::vector<std::pair<std::string, std::string>> query;  // decoded
  std::string resource;  // "/bucket/key" for error bodies

  const std::string* Param(std::string_view name) const;
  bool Has(std::string_view name) const { return Param(name) != nullptr; }
  ObjectStore& store() const { return service->store(); }
  int64_t now() const { return service->NowUnix(); }
  S3Response Error(const core::Status& st) const;
};

// An exchange whose response is known without a body.
std::unique_ptr<S3Exchange> Ready(S3Response response);
// An exchange that buffers an XML body (bounded) and then calls `handler`.
std::unique_ptr<S3Exchange> WithXmlBody(
    std::shared_ptr<RequestContext> ctx,
    std::function<S3Response(RequestContext&, std::string_view body)> handler);

S3Response XmlResponse(int status, std::string xml);
S3Response EmptyResponse(int status);

// Bucket and service operations (s3_service.cc).
S3Response ListBuckets(RequestContext& ctx);
// Listings (s3_service_list.cc).
S3Response ListObjects(RequestContext& ctx, int version);  // 1 or 2
S3Response ListObjectVersions(RequestContext& ctx);
S3Response ListMultipartUploads(RequestContext& ctx);
S3Response ListParts(RequestContext& ctx);
// Objects (s3_service_objects.cc).
std::unique_ptr<S3Exchange> StartPutObject(std::shared_ptr<RequestContext> ctx, int part_number,
                                           std::string upload_id);
S3Response GetObject(RequestContext& ctx, bool head);
S3Response DeleteObject(RequestContext& ctx);
S3Response CopyObject(RequestContext& ctx);
S3Response DeleteObjects(RequestContext& ctx, std::string_view body);
// Multipart (s3_service_multipart.cc).
S3Response CreateMultipartUpload(RequestContext& ctx);
S3Response CompleteMultipartUpload(RequestContext& ctx, std::string_view body);
S3Response AbortMultipartUpload(RequestContext& ctx);

// The RDMA data path (rdma_server_service.cc).
// True if `name` (lowercase) is among the request's SigV4 signed headers (always true for
// an anonymous request the policy allowed).
bool HeaderIsSigned(const RequestContext& ctx, std::string_view name);
// The request's x-amz-rdma-token, checked: the server has a fabric (else NotImplemented),
// syntax and transport (InvalidRDMAToken; NotImplemented for cuObject's DC token), and the
// connection exists and belongs to the signer (RDMAConnectionNotFound).
// REQUIRES: the request carries the header.
core::Result<RdmaToken> CheckRdmaToken(const RequestContext& ctx);
// x-amz-rdma-reply: <rdma_status> and x-amz-rdma-bytes-transferred: <bytes>.
void AddRdmaReplyHeaders(S3Response& r, int rdma_status, uint64_t bytes);
// GET with a token.
std::unique_ptr<S3Exchange> StartRdmaGet(std::shared_ptr<RequestContext> ctx);
// POST/DELETE /?rdmaConnect.
S3Response RdmaConnectRequest(RequestContext& ctx);
// Wraps an exchange so its reply carries x-amz-rdma-reply: 501 unless the RDMA path set it
// (token requests: every reply; connect requests: error replies).
std::unique_ptr<S3Exchange> TagRdmaReply(std::unique_ptr<S3Exchange> inner, bool token_request);

// Stored headers taken from a PUT / CreateMultipartUpload request: content-type & co,
// x-amz-meta-*. MetadataTooLarge-style errors as InvalidArgument.
core::Result<ObjectMeta> MetaFromRequest(const RequestContext& ctx);
// Adds the object's stored headers (and ETag, Last-Modified) to a response.
void AddObjectHeaders(const ObjectMeta& meta, bool with_checksums, S3Response& resp);
std::string Quote(std::string_view etag);

// Range header: "bytes=a-b", "bytes=a-", "bytes=-n". Returns nullopt for absent, malformed or
// multi-range headers (served in full), InvalidRange if unsatisfiable for `size`.
struct ByteRange {
  uint64_t first = 0;
  uint64_t length = 0;
};
core::Result<std::optional<ByteRange>> ParseRange(std::string_view header, uint64_t size);

}  // namespace s3rdma::proto::internal

#endif  // S3RDMA_PROTO_INTERNAL_S3_OPS_H_
