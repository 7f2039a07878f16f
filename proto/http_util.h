// The transport-independent HTTP request view used by SigV4 and the S3 service, plus URI
// and date helpers. No Beast here: the Beast adapter (http_server.cc) fills an HttpRequest,
// and so can any other byte-stream transport (e.g. the simulator's).
#ifndef S3RDMA_PROTO_HTTP_UTIL_H_
#define S3RDMA_PROTO_HTTP_UTIL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3rdma::proto {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET", "PUT", ...
  std::string target;  // request-target exactly as sent: "/bucket/key?x=y"
  HeaderList headers;  // names lowercased, values as sent, in arrival order

  // First value of header `name` (lowercase), or nullptr.
  const std::string* Header(std::string_view name) const;
  std::string_view RawPath() const;   // target before '?'
  std::string_view RawQuery() const;  // target after '?', or empty
};

// Percent-decoding; '+' stays '+'. nullopt on a malformed escape.
std::optional<std::string> UriDecode(std::string_view s);
// AWS's UriEncode: everything but A-Z a-z 0-9 - _ . ~ is %XX (uppercase); '/' too unless
// keep_slash.
std::string UriEncode(std::string_view s, bool keep_slash);

// Query parameters, decoded, in order. A name without '=' has an empty value.
// nullopt on a malformed escape.
std::optional<std::vector<std::pair<std::string, std::string>>> ParseQuery(std::string_view raw);

// Unix seconds <-> "Wed, 21 Oct 2015 07:28:00 GMT" (RFC 7231 IMF-fixdate).
std::string FormatHttpDate(int64_t unix_seconds);
std::optional<int64_t> ParseHttpDate(std::string_view s);
// Unix seconds <-> "20150830T123600Z" (ISO 8601 basic, as in x-amz-date).
std::string FormatAmzDate(int64_t unix_seconds);
std::optional<int64_t> ParseAmzDate(std::string_view s);
// "2015-08-30T12:36:00.000Z" as in S3 XML listings.
std::string FormatIsoDate(int64_t unix_seconds);

// Strict non-negative decimal, no sign, no spaces; nullopt on overflow past `max`.
std::optional<uint64_t> ParseDecimal(std::string_view s, uint64_t max = UINT64_MAX);

std::string_view Trim(std::string_view s);
std::string ToLower(std::string_view s);

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_HTTP_UTIL_H_
