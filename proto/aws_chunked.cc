#include "proto/aws_chunked.h"

#include <openssl/crypto.h>

#include "proto/s3_error.h"
#include "proto/sigv4.h"

namespace s3rdma::proto {
namespace {
constexpr size_t kMaxLine = 4096;

core::Status Malformed(std::string_view why) {
  return S3Error(S3Err::kIncompleteBody, "malformed aws-chunked body: " + std::string(why));
}
}  // namespace

AwsChunkedDecoder::AwsChunkedDecoder(Options options, Sink sink)
    : opt_(std::move(options)), sink_(std::move(sink)), prev_sig_(opt_.seed_signature) {}

core::Status AwsChunkedDecoder::Feed(std::string_view data) {
  while (!data.empty()) {
    switch (state_) {
      case State::kSizeLine:
      case State::kTrailer:
      case State::kDataCrlf: {
        const size_t nl = data.find('\n');
        const std::string_view piece = data.substr(0, nl);
        if (line_.size() + piece.size() > kMaxLine) return Malformed("line too long");
        line_.append(piece);
        if (nl == std::string_view::npos) return core::Status::Ok();
        data.remove_prefix(nl + 1);
        if (line_.empty() || line_.back() != '\r') return Malformed("line not ended by CRLF");
        line_.pop_back();
        std::string line = std::move(line_);
        line_.clear();
        if (state_ == State::kSizeLine) {
          S3_RETURN_IF_ERROR(OnSizeLine(line));
        } else if (state_ == State::kTrailer) {
          S3_RETURN_IF_ERROR(OnTrailerLine(line));
        } else {
          if (!line.empty()) return Malformed("chunk data longer than its size");
          state_ = State::kSizeLine;
        }
        break;
      }
      case State::kData: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size()));
        const std::string_view piece = data.substr(0, n);
        if (chunk_hash_) chunk_hash_->Update(piece);
        S3_RETURN_IF_ERROR(sink_(piece));
        decoded_ += n;
        remaining_ -= n;
        data.remove_prefix(n);
        if (remaining_ == 0) S3_RETURN_IF_ERROR(EndChunk());
        break;
      }
      case State::kDone:
        return Malformed("bytes after the end of the body");
    }
  }
  return core::Status::Ok();
}

core::Status AwsChunkedDecoder::OnSizeLine(std::string_view line) {
  const size_t semi = line.find(';');
  const std::string_view hex = line.substr(0, semi);
  if (hex.empty() || hex.size() > 16) return Malformed("bad chunk size");
  uint64_t size = 0;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else return Malformed("bad chunk size");
    size = size * 16 + static_cast<uint64_t>(v);
  }
  if (size > opt_.max_chunk_bytes) return Malformed("chunk too large");
  chunk_sig_.clear();
  if (semi != std::string_view::npos) {
    std::string_view ext = line.substr(semi + 1);
    constexpr std::string_view kSig = "chunk-signature=";
    if (ext.substr(0, kSig.size()) == kSig) chunk_sig_ = std::string(ext.substr(kSig.size()));
  }
  if (opt_.signed_chunks && chunk_sig_.empty()) return Malformed("missing chunk-signature");
  chunk_size_ = size;
  remaining_ = size;
  if (opt_.signed_chunks) chunk_hash_ = std::make_unique<Digest>(Digest::Kind::kSha256);
  if (size == 0) return EndChunk();
  state_ = State::kData;
  return core::Status::Ok();
}

core::Status AwsChunkedDecoder::EndChunk() {
  if (opt_.signed_chunks) {
    std::string s = "AWS4-HMAC-SHA256-PAYLOAD\n";
    s.append(opt_.amz_date).append("\n").append(opt_.scope).append("\n").append(prev_sig_);
    s.append("\n").append(kEmptySha256).append("\n");
    s += HexEncode(chunk_hash_->Final());
    chunk_hash_.reset();
    const std::string expected = HexEncode(HmacSha256(opt_.signing_key, s));
    if (expected.size() != chunk_sig_.size() ||
        CRYPTO_memcmp(expected.data(), chunk_sig_.data(), expected.size()) != 0) {
      return S3Error(S3Err::kSignatureDoesNotMatch, "chunk signature does not match");
    }
    prev_sig_ = expected;
  }
  if (chunk_size_ == 0) {
    state_ = State::kTrailer;
  } else {
    state_ = State::kDataCrlf;
  }
  return core::Status::Ok();
}

core::Status AwsChunkedDecoder::OnTrailerLine(std::string_view line) {
  if (line.empty()) {
    if (opt_.signed_trailer) {
      if (trailer_sig_.empty()) return Malformed("missing x-amz-trailer-signature");
      const std::string expected = TrailerSignature(opt_.signing_key, opt_.amz_date, opt_.scope,
                                                    prev_sig_, canonical_trailers_);
      if (expected != trailer_sig_) {
        return S3Error(S3Err::kSignatureDoesNotMatch, "trailer signature does not match");
      }
    }
    state_ = State::kDone;
    return core::Status::Ok();
  }
  if (!opt_.trailer) return Malformed("unexpected trailer");
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return Malformed("bad trailer line");
  std::string name = ToLower(Trim(line.substr(0, colon)));
  std::string value(Trim(line.substr(colon + 1)));
  if (name == "x-amz-trailer-signature") {
    trailer_sig_ = std::move(value);
    return core::Status::Ok();
  }
  if (trailers_.size() >= 16) return Malformed("too many trailers");
  canonical_trailers_ += name + ":" + value + "\n";
  trailers_.emplace_back(std::move(name), std::move(value));
  return core::Status::Ok();
}

core::Status AwsChunkedDecoder::Finish() const {
  if (state_ != State::kDone) return Malformed("body ended before the final chunk");
  return core::Status::Ok();
}

}  // namespace s3rdma::proto
