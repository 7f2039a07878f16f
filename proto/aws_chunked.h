// Streaming decoder of aws-chunked request bodies (Content-Encoding: aws-chunked):
//   STREAMING-AWS4-HMAC-SHA256-PAYLOAD          chunks with chained chunk signatures
//   STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER  same, then signed trailing headers
//   STREAMING-UNSIGNED-PAYLOAD-TRAILER          plain chunks, then trailing headers
// Body: "<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n" ... "0[;chunk-signature=..]\r\n"
// then trailer lines "name:value\r\n" and a final "\r\n".
// Bytes may arrive split anywhere; memory use is bounded (no chunk is buffered whole).
#ifndef S3RDMA_PROTO_AWS_CHUNKED_H_
#define S3RDMA_PROTO_AWS_CHUNKED_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "proto/hash.h"
#include "proto/http_util.h"

namespace s3rdma::proto {

class AwsChunkedDecoder {
 public:
  struct Options {
    bool signed_chunks = false;   // verify chunk-signature
    bool trailer = false;         // trailing headers follow the last chunk
    bool signed_trailer = false;  // x-amz-trailer-signature must verify
    std::string signing_key;      // raw key, amz date, scope and seed: from AuthResult
    std::string amz_date;
    std::string scope;
    std::string seed_signature;
    uint64_t max_chunk_bytes = 64ull << 20;
  };
  using Sink = std::function<core::Status(std::string_view)>;

  // `sink` receives the decoded payload in order.
  AwsChunkedDecoder(Options options, Sink sink);

  // Consumes raw body bytes. Errors: IncompleteBody / InvalidArgument (malformed framing),
  // SignatureDoesNotMatch (a chunk or the trailer), or whatever the sink returns.
  // After an error the decoder must not be fed again.
  core::Status Feed(std::string_view data);
  // Call at the end of the body: IncompleteBody unless the final chunk and trailer were seen.
  core::Status Finish() const;
  bool done() const { return state_ == State::kDone; }
  uint64_t decoded_bytes() const { return decoded_; }
  // Trailing headers (names lowercased), without x-amz-trailer-signature.
  const HeaderList& trailers() const { return trailers_; }

 private:
  enum class State { kSizeLine, kData, kDataCrlf, kTrailer, kDone };
  core::Status OnSizeLine(std::string_view line);
  core::Status OnTrailerLine(std::string_view line);
  core::Status EndChunk();

  Options opt_;
  Sink sink_;
  State state_ = State::kSizeLine;
  std::string line_;
  uint64_t remaining_ = 0;
  uint64_t chunk_size_ = 0;
  std::string chunk_sig_;
  std::string prev_sig_;
  std::unique_ptr<Digest> chunk_hash_;
  uint64_t decoded_ = 0;
  HeaderList trailers_;
  std::string trailer_sig_;
  std::string canonical_trailers_;
};

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_AWS_CHUNKED_H_
