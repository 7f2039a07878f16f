// S3 error codes and how they travel as core::Status.
//
// Store and protocol code return core::Status. An S3-specific failure is made with
// S3Error(S3Err::kNoSuchKey, "...") whose message starts with the S3 code ("NoSuchKey: ...");
// ToS3Error() turns any Status back into the code, HTTP status and message the client sees.
// A Status not made by S3Error() becomes InternalError (500) with its text.
#ifndef S3RDMA_PROTO_S3_ERROR_H_
#define S3RDMA_PROTO_S3_ERROR_H_

#include <string>
#include <string_view>

#include "core/status.h"

namespace s3rdma::proto {

enum class S3Err {
  kAccessDenied,
  kBadDigest,
  kBucketAlreadyOwnedByYou,
  kBucketNotEmpty,
  kEntityTooLarge,
  kEntityTooSmall,
  kIncompleteBody,
  kInternalError,
  kInvalidAccessKeyId,
  kInvalidArgument,
  kInvalidBucketName,
  kInvalidDigest,
  kInvalidPart,
  kInvalidPartOrder,
  kInvalidRange,
  kInvalidRequest,
  kKeyTooLongError,
  kMalformedXML,
  kMethodNotAllowed,
  kMissingContentLength,
  kNoSuchBucket,
  kNoSuchKey,
  kNoSuchUpload,
  kNotImplemented,
  kPreconditionFailed,
  kNotModified,
  kRequestHeaderSectionTooLarge,
  kRequestTimeTooSkewed,
  kSignatureDoesNotMatch,
  kAuthorizationHeaderMalformed,
  kAuthorizationQueryParametersError,
  kXAmzContentSHA256Mismatch,
  kInvalidChunkSizeError,
  kMissingSecurityHeader,
  kSlowDown,
};

std::string_view S3ErrName(S3Err err);
int S3ErrHttpStatus(S3Err err);

core::Status S3Error(S3Err err, std::string_view message = {});

struct S3ErrorInfo {
  std::string code;  // e.g. "NoSuchKey"
  int http_status = 500;
  std::string message;
};
S3ErrorInfo ToS3Error(const core::Status& status);

// True if `status` was made by S3Error(err, ...).
bool IsS3Error(const core::Status& status, S3Err err);

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_S3_ERROR_H_
