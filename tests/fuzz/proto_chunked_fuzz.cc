// Fuzz target: aws-chunked decoding. Arbitrary bytes in arbitrary pieces (unsigned with
// trailer, and signed), and a round trip: random data framed in random chunk sizes with
// valid chunk signatures must decode to itself, whatever the split points.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/check.h"
#include "proto/aws_chunked.h"
#include "proto/hash.h"
#include "proto/sigv4.h"

using namespace s3rdma;

namespace {

proto::AwsChunkedDecoder::Options Signed() {
  proto::AwsChunkedDecoder::Options o;
  o.signed_chunks = true;
  o.signing_key = proto::SigningKey("secret", "20240101", "us-east-1", "s3");
  o.amz_date = "20240101T000000Z";
  o.scope = "20240101/us-east-1/s3/aws4_request";
  o.seed_signature = std::string(64, 'a');
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = 1 + data[0] % 13;
  const std::string raw(reinterpret_cast<const char*>(data + 1), size - 1);
  for (int mode = 0; mode < 2; ++mode) {
    proto::AwsChunkedDecoder::Options o = mode == 0 ? proto::AwsChunkedDecoder::Options{} : Signed();
    o.trailer = mode == 0;
    uint64_t sunk = 0;
    proto::AwsChunkedDecoder d(o, [&](std::string_view p) {
      sunk += p.size();
      return core::Status::Ok();
    });
    for (size_t off = 0; off < raw.size(); off += step) {
      if (!d.Feed(std::string_view(raw).substr(off, step)).ok()) break;
    }
    S3_CHECK(sunk == d.decoded_bytes());
  }
  // Round trip with valid signatures (one input in four: signing is slow).
  if (size % 4 != 1) return 0;
  const proto::AwsChunkedDecoder::Options o = Signed();
  std::string body, prev = o.seed_signature;
  size_t off = 0;
  size_t i = 0;
  while (true) {
    const size_t n = off >= raw.size() ? 0 : std::min<size_t>(raw.size() - off, 1 + data[i++ % size] * 4);
    const std::string_view chunk = std::string_view(raw).substr(off, n);
    const std::string sig = proto::ChunkSignature(o.signing_key, o.amz_date, o.scope, prev, chunk);
    char hex[32];
    std::snprintf(hex, sizeof(hex), "%zx", n);
    body += std::string(hex) + ";chunk-signature=" + sig + "\r\n" + std::string(chunk) + "\r\n";
    prev = sig;
    off += n;
    if (n == 0) break;
  }
  std::string out;
  proto::AwsChunkedDecoder d(o, [&](std::string_view p) {
    out.append(p);
    return core::Status::Ok();
  });
  for (size_t pos = 0; pos < body.size(); pos += step) {
    const core::Status st = d.Feed(std::string_view(body).substr(pos, step));
    S3_CHECK_MSG(st.ok(), "valid chunked body rejected: " + st.ToString());
  }
  S3_CHECK(d.Finish().ok());
  S3_CHECK(out == raw);
  return 0;
}
