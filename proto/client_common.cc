#include "proto/client_common.h"

#include "proto/hash.h"
#include "proto/s3_error.h"

namespace s3rdma::proto {

core::Status ParseEndpoint(std::string_view endpoint, ClientOptions& o) {
  constexpr std::string_view kHttp = "http://";
  if (endpoint.substr(0, kHttp.size()) != kHttp) {
    return core::Status::InvalidArgument("endpoint must start with http:// (got '" +
                                         std::string(endpoint) + "')");
  }
  endpoint.remove_prefix(kHttp.size());
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.remove_suffix(1);
  const size_t colon = endpoint.rfind(':');
  if (colon == std::string_view::npos) {
    o.host = std::string(endpoint);
    o.port = 80;
  } else {
    auto port = ParseDecimal(endpoint.substr(colon + 1), 65535);
    if (!port || *port == 0) return core::Status::InvalidArgument("bad port in endpoint");
    o.host = std::string(endpoint.substr(0, colon));
    o.port = static_cast<uint16_t>(*port);
  }
  if (o.host.empty()) return core::Status::InvalidArgument("endpoint has no host");
  return core::Status::Ok();
}

const std::string* ClientResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

std::string XmlTag(const std::string& xml, std::string_view name) {
  const std::string open = "<" + std::string(name) + ">";
  const std::string close = "</" + std::string(name) + ">";
  const size_t a = xml.find(open);
  if (a == std::string::npos) return {};
  const size_t b = xml.find(close, a + open.size());
  if (b == std::string::npos) return {};
  return xml.substr(a + open.size(), b - a - open.size());
}

std::string ErrorCodeOf(const std::string& body) { return XmlTag(body, "Code"); }

core::Status ErrorFromReply(int status, const std::string& body) {
  std::string code = XmlTag(body, "Code");
  const std::string message = XmlTag(body, "Message");
  if (code.empty()) code = "HTTP" + std::to_string(status);
  for (int e = 0; e <= static_cast<int>(S3Err::kSlowDown); ++e) {
    if (S3ErrName(static_cast<S3Err>(e)) == code) return S3Error(static_cast<S3Err>(e), message);
  }
  return core::Status::Unavailable(code + ": " + message);
}

std::string BuildTarget(const ClientRequest& r) {
  std::string target = "/";
  if (!r.bucket.empty()) {
    target += r.bucket;
    if (!r.key.empty()) target += "/" + UriEncode(r.key, /*keep_slash=*/true);
  }
  std::string q;
  for (const auto& [k, v] : r.query) {
    if (!q.empty()) q += '&';
    q += UriEncode(k, false);
    q += '=';
    q += UriEncode(v, false);
  }
  if (!q.empty()) target += "?" + q;
  return target;
}

HttpRequest BuildSignedRequest(const ClientRequest& r, const ClientOptions& options,
                               int64_t now_unix, SigningKeyCache* keys) {
  HttpRequest out;
  out.method = r.method;
  out.target = BuildTarget(r);
  out.headers = r.headers;
  out.headers.emplace_back("host", options.host + ":" + std::to_string(options.port));
  if (!options.anonymous) {
    const std::string* given = out.Header("x-amz-content-sha256");
    const std::string payload_hash = given != nullptr ? *given : HexEncode(Sha256(r.body));
    SignRequest(out, options.credential, options.region, payload_hash, now_unix, keys);
  }
  return out;
}

bool SendsContentLength(const ClientRequest& r) {
  if (!r.body.empty()) return true;
  return !(r.method == "GET" || r.method == "HEAD" || r.method == "DELETE");
}

core::Result<ClientResponse> ResponseOrError(const ClientRequest& request,
                                             ClientResponse response) {
  const bool ok = response.status >= 200 && response.status < 300;
  if (ok || request.return_error_responses) return response;
  return ErrorFromReply(response.status, response.body);
}

}  // namespace s3rdma::proto
