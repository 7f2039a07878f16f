#include "proto/s3_error.h"

#include <array>

namespace s3rdma::proto {
namespace {

struct Entry {
  S3Err err;
  std::string_view name;
  int http_status;
  std::string_view default_message;
};

constexpr std::array kTable = {
    Entry{S3Err::kAccessDenied, "AccessDenied", 403, "Access Denied"},
    Entry{S3Err::kBadDigest, "BadDigest", 400,
          "The Content-MD5 you specified did not match what we received."},
    Entry{S3Err::kBucketAlreadyOwnedByYou, "BucketAlreadyOwnedByYou", 409,
          "Your previous request to create the named bucket succeeded and you already own it."},
    Entry{S3Err::kBucketNotEmpty, "BucketNotEmpty", 409,
          "The bucket you tried to delete is not empty"},
    Entry{S3Err::kEntityTooLarge, "EntityTooLarge", 400,
          "Your proposed upload exceeds the maximum allowed size"},
    Entry{S3Err::kEntityTooSmall, "EntityTooSmall", 400,
          "Your proposed upload is smaller than the minimum allowed object size."},
    Entry{S3Err::kIncompleteBody, "IncompleteBody", 400,
          "You did not provide the number of bytes specified by the Content-Length HTTP header"},
    Entry{S3Err::kInternalError, "InternalError", 500,
          "We encountered an internal error. Please try again."},
    Entry{S3Err::kInvalidAccessKeyId, "InvalidAccessKeyId", 403,
          "The AWS Access Key Id you provided does not exist in our records."},
    Entry{S3Err::kInvalidArgument, "InvalidArgument", 400, "Invalid Argument"},
    Entry{S3Err::kInvalidBucketName, "InvalidBucketName", 400,
          "The specified bucket is not valid."},
    Entry{S3Err::kInvalidDigest, "InvalidDigest", 400,
          "The Content-MD5 you specified is not valid."},
    Entry{S3Err::kInvalidPart, "InvalidPart", 400,
          "One or more of the specified parts could not be found."},
    Entry{S3Err::kInvalidPartOrder, "InvalidPartOrder", 400,
          "The list of parts was not in ascending order."},
    Entry{S3Err::kInvalidRange, "InvalidRange", 416, "The requested range is not satisfiable"},
    Entry{S3Err::kInvalidRequest, "InvalidRequest", 400, "Invalid Request"},
    Entry{S3Err::kKeyTooLongError, "KeyTooLongError", 400, "Your key is too long"},
    Entry{S3Err::kMalformedXML, "MalformedXML", 400,
          "The XML you provided was not well-formed or did not validate against our published "
          "schema."},
    Entry{S3Err::kMethodNotAllowed, "MethodNotAllowed", 405,
          "The specified method is not allowed against this resource."},
    Entry{S3Err::kMissingContentLength, "MissingContentLength", 411,
          "You must provide the Content-Length HTTP header."},
    Entry{S3Err::kNoSuchBucket, "NoSuchBucket", 404, "The specified bucket does not exist"},
    Entry{S3Err::kNoSuchKey, "NoSuchKey", 404, "The specified key does not exist."},
    Entry{S3Err::kNoSuchUpload, "NoSuchUpload", 404,
          "The specified multipart upload does not exist."},
    Entry{S3Err::kNotImplemented, "NotImplemented", 501,
          "A header or query you provided implies functionality that is not implemented."},
    Entry{S3Err::kPreconditionFailed, "PreconditionFailed", 412,
          "At least one of the preconditions you specified did not hold."},
    Entry{S3Err::kNotModified, "NotModified", 304, "Not Modified"},
    Entry{S3Err::kRequestHeaderSectionTooLarge, "RequestHeaderSectionTooLarge", 400,
          "Your request header section exceeds the maximum allowed size."},
    Entry{S3Err::kRequestTimeTooSkewed, "RequestTimeTooSkewed", 403,
          "The difference between the request time and the current time is too large."},
    Entry{S3Err::kSignatureDoesNotMatch, "SignatureDoesNotMatch", 403,
          "The request signature we calculated does not match the signature you provided."},
    Entry{S3Err::kAuthorizationHeaderMalformed, "AuthorizationHeaderMalformed", 400,
          "The authorization header is malformed."},
    Entry{S3Err::kAuthorizationQueryParametersError, "AuthorizationQueryParametersError", 400,
          "Error parsing the X-Amz-Credential parameter."},
    Entry{S3Err::kXAmzContentSHA256Mismatch, "XAmzContentSHA256Mismatch", 400,
          "The provided 'x-amz-content-sha256' header does not match what was computed."},
    Entry{S3Err::kInvalidChunkSizeError, "InvalidChunkSizeError", 400,
          "Only the last chunk is allowed to have a size less than 8192 bytes"},
    Entry{S3Err::kMissingSecurityHeader, "MissingSecurityHeader", 400,
          "Your request is missing a required header."},
    Entry{S3Err::kSlowDown, "SlowDown", 503, "Please reduce your request rate."},
};

const Entry& Find(S3Err err) {
  for (const auto& e : kTable) {
    if (e.err == err) return e;
  }
  return kTable[7];  // InternalError
}

core::StatusCode StatusCodeFor(int http_status) {
  switch (http_status) {
    case 404: return core::StatusCode::kNotFound;
    case 403: return core::StatusCode::kPermissionDenied;
    case 409: return core::StatusCode::kFailedPrecondition;
    case 412: return core::StatusCode::kFailedPrecondition;
    case 416: return core::StatusCode::kOutOfRange;
    case 500: return core::StatusCode::kInternal;
    case 501: return core::StatusCode::kUnimplemented;
    case 503: return core::StatusCode::kUnavailable;
    default: return core::StatusCode::kInvalidArgument;
  }
}

}  // namespace

std::string_view S3ErrName(S3Err err) { return Find(err).name; }
int S3ErrHttpStatus(S3Err err) { return Find(err).http_status; }

core::Status S3Error(S3Err err, std::string_view message) {
  const Entry& e = Find(err);
  std::string msg(e.name);
  msg += ": ";
  msg += message.empty() ? e.default_message : message;
  switch (StatusCodeFor(e.http_status)) {
    case core::StatusCode::kNotFound: return core::Status::NotFound(std::move(msg));
    case core::StatusCode::kPermissionDenied: return core::Status::PermissionDenied(std::move(msg));
    case core::StatusCode::kFailedPrecondition:
      return core::Status::FailedPrecondition(std::move(msg));
    case core::StatusCode::kOutOfRange: return core::Status::OutOfRange(std::move(msg));
    case core::StatusCode::kInternal: return core::Status::Internal(std::move(msg));
    case core::StatusCode::kUnimplemented: return core::Status::Unimplemented(std::move(msg));
    case core::StatusCode::kUnavailable: return core::Status::Unavailable(std::move(msg));
    default: return core::Status::InvalidArgument(std::move(msg));
  }
}

S3ErrorInfo ToS3Error(const core::Status& status) {
  const std::string& m = status.message();
  const size_t colon = m.find(": ");
  if (colon != std::string::npos) {
    const std::string_view name(m.data(), colon);
    for (const auto& e : kTable) {
      if (e.name == name) return {std::string(e.name), e.http_status, m.substr(colon + 2)};
    }
  }
  return {"InternalError", 500, status.ToString()};
}

bool IsS3Error(const core::Status& status, S3Err err) {
  const std::string_view name = S3ErrName(err);
  const std::string& m = status.message();
  return !status.ok() && m.size() > name.size() && m.compare(0, name.size(), name) == 0 &&
         m[name.size()] == ':';
}

}  // namespace s3rdma::proto
