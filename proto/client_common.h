// What every S3Transport shares: building the request target, signing, and turning replies
// into results. Pure functions, no I/O: S3Client (HTTP over TCP) and DirectTransport
// (in-process) both use them, so the server sees byte-identical signed requests either way.
#ifndef S3RDMA_PROTO_CLIENT_COMMON_H_
#define S3RDMA_PROTO_CLIENT_COMMON_H_

#include <cstdint>
#include <string>

#include "core/status.h"
#include "proto/http_util.h"
#include "proto/s3_transport.h"

namespace s3rdma::proto {

// "/bucket/key?k=v&..." with the key and query URI-encoded as SigV4 expects.
std::string BuildTarget(const ClientRequest& request);

// The request as it goes on the wire, minus framing: method, target, the caller's headers,
// host, and (unless anonymous) x-amz-date, x-amz-content-sha256 and Authorization signed at
// `now_unix`. Content-Length is NOT added (it is framing, unsigned): transports add it.
// `keys` (optional, the transport's) memoizes the signing key.
HttpRequest BuildSignedRequest(const ClientRequest& request, const ClientOptions& options,
                               int64_t now_unix, SigningKeyCache* keys = nullptr);

// True if the transport should send "Content-Length: 0" for an empty body (PUT/POST do;
// GET/HEAD/DELETE without a body send no Content-Length, as Beast's prepare_payload does).
bool SendsContentLength(const ClientRequest& request);

// Extracts <Code> and <Message> from an S3 error body: an S3Error when the code is one of
// S3Err, else Unavailable("Code: message") (e.g. "RDMATransferFailed: ..."); a body with no
// <Code> gives "HTTP<status>: ...".
core::Status ErrorFromReply(int status, const std::string& body);

// The S3 error code of a reply body ("NoSuchKey"), or "" if there is none.
std::string ErrorCodeOf(const std::string& body);

// Applies the transport contract: 2xx (or any status when request.return_error_responses)
// is the response, anything else ErrorFromReply.
core::Result<ClientResponse> ResponseOrError(const ClientRequest& request,
                                             ClientResponse response);

// The text between the first <name> and </name> in `xml`, or "" (for the few fields clients
// read from small replies: UploadId, ETag).
std::string XmlTag(const std::string& xml, std::string_view name);

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_CLIENT_COMMON_H_
