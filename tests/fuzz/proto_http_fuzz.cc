// Fuzz target: the S3 HTTP request path as a whole. Bytes become an HTTP request (raw, or
// assembled from a dictionary of S3 methods, paths, query parameters and headers so that deep
// paths are reached), go through Beast's request parser, then S3Service (memory store,
// virtual time) with the body streamed in pieces. Mode bits also sign the request with a
// known credential so authenticated operations run. Must never crash, hang or trip a
// sanitizer; every response must be a sane HTTP status.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

// GCC 12 with sanitizers reports a false -Wmaybe-uninitialized inside Beast's parser
// (boost::optional body limit); the warning is Beast's, not this file's.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop

#include "core/check.h"
#include "core/virtual_runtime.h"
#include "proto/memory_store.h"
#include "proto/s3_service.h"
#include "proto/sigv4.h"

namespace {
namespace http = boost::beast::http;
using namespace s3rdma;

class Input {
 public:
  Input(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  uint8_t Byte() { return pos_ < n_ ? d_[pos_++] : 0; }
  std::string Str(size_t max) {
    const size_t want = Byte() % (max + 1);  // before reading pos_: it advances
    const size_t len = std::min<size_t>(want, n_ - std::min(pos_, n_));
    std::string s(reinterpret_cast<const char*>(d_ + pos_), len);
    pos_ += len;
    return s;
  }
  std::string Rest() {
    std::string s(reinterpret_cast<const char*>(d_ + std::min(pos_, n_)), n_ - std::min(pos_, n_));
    pos_ = n_;
    return s;
  }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t pos_ = 0;
};

template <size_t N>
std::string Pick(Input& in, const char* const (&options)[N]) {
  return options[in.Byte() % N];
}

std::string AssembleRequest(Input& in, bool* sign) {
  static const char* const kMethods[] = {"GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS"};
  static const char* const kPaths[] = {"/", "/bkt", "/bkt/", "/bkt/key", "/bkt/a/b%20c",
                                       "/nobkt/k", "/bkt/%ZZ", "/BAD_BUCKET/k", "/bkt/../x"};
  static const char* const kQuery[] = {
      "", "?uploads", "?uploadId=", "?partNumber=1&uploadId=", "?list-type=2", "?delete",
      "?versions", "?location", "?acl", "?list-type=2&delimiter=/&prefix=a&max-keys=",
      "?continuation-token=", "?marker=", "?encoding-type=url&start-after=",
      "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=", "?part-number-marker="};
  static const char* const kHeaders[] = {
      "range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since",
      "content-md5", "x-amz-checksum-crc32", "x-amz-checksum-crc32c", "x-amz-checksum-sha256",
      "x-amz-content-sha256", "x-amz-copy-source", "x-amz-metadata-directive",
      "x-amz-decoded-content-length", "x-amz-trailer", "content-encoding", "x-amz-meta-a",
      "content-type", "authorization", "x-amz-date", "expect", "host"};
  const uint8_t mode = in.Byte();
  *sign = (mode & 1) != 0;
  std::string target = Pick(in, kPaths) + Pick(in, kQuery) + in.Str(24);
  for (char& c : target) {
    if (c == ' ' || c == '\r' || c == '\n' || static_cast<unsigned char>(c) < 0x21) c = '_';
  }
  std::string req = Pick(in, kMethods) + " " + target + " HTTP/1.1\r\nHost: localhost\r\n";
  const int headers = in.Byte() % 6;
  for (int i = 0; i < headers; ++i) {
    std::string value = in.Str(40);
    for (char& c : value) {
      if (c == '\r' || c == '\n') c = ' ';
    }
    req += Pick(in, kHeaders) + ": " + value + "\r\n";
  }
  std::string body = in.Str(200);
  if (mode & 2) {
    // aws-chunked framing around the body, sometimes.
    body = std::to_string(body.size()) + "\r\n" + body + "\r\n0\r\n\r\n";
  }
  req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return req;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  bool sign = false;
  std::string raw = (in.Byte() & 1) ? AssembleRequest(in, &sign) : in.Rest();

  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(1 << 20);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(raw), ec);
  if (ec || !parser.is_header_done()) return 0;

  core::VirtualRuntime runtime;
  proto::MemoryStore store(1);
  S3_CHECK(store.CreateBucket("bkt", 0).ok());
  proto::CredentialStore creds;
  const proto::Credential cred{"AKIDFUZZ", "fuzz-secret"};
  creds.Add(cred);
  proto::ServiceConfig config;
  config.unix_time_at_runtime_zero = 1700000000;
  config.auth.allow_anonymous = !sign && (size % 2 == 0);
  config.min_part_bytes = 1;
  proto::S3Service service(config, store, creds, runtime);

  const auto& msg = parser.get();
  proto::HttpRequest req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  for (const auto& f : msg) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (sign && (name == "authorization" || name == "x-amz-date")) continue;
    req.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  if (sign) {
    const std::string* sha = req.Header("x-amz-content-sha256");
    proto::SignRequest(req, cred, "us-east-1", sha ? *sha : std::string(proto::kUnsignedPayload),
                       1700000000);
  }
  // Run the same request twice: the second sees the first one's effects.
  for (int round = 0; round < 2; ++round) {
    auto exchange = service.Start(req);
    if (exchange->wants_body()) {
      std::string_view body = msg.body();
      size_t step = 1 + (size % 17);
      while (!body.empty()) {
        const size_t n = std::min(step, body.size());
        if (!exchange->OnBody(body.substr(0, n)).ok()) break;
        body.remove_prefix(n);
      }
    }
    proto::S3Response r = exchange->Finish();
    S3_CHECK_MSG(r.status >= 200 && r.status < 600, "bad HTTP status");
    if (r.reader) {
      S3_CHECK(r.offset + r.content_length <= r.reader->meta().size);
    } else if (r.send_body) {
      S3_CHECK(r.content_length == r.body.size());
    }
  }
  return 0;
}
