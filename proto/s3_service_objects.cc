// Object operations: PutObject / UploadPart (streaming), GetObject / HeadObject (ranges,
// conditionals), DeleteObject, DeleteObjects, CopyObject.
#include <algorithm>
#include <optional>

#include "proto/aws_chunked.h"
#include "proto/hash.h"
#include "proto/internal/s3_ops.h"
#include "proto/rdma_server.h"
#include "proto/s3_error.h"
#include "proto/xml.h"

namespace s3rdma::proto::internal {

std::string Quote(std::string_view etag) { return "\"" + std::string(etag) + "\""; }

namespace {

constexpr std::string_view kStoredHeaders[] = {"content-type",     "content-encoding",
                                               "content-disposition", "content-language",
                                               "cache-control",    "expires",
                                               "x-amz-website-redirect-location"};

// "aws-chunked" is transfer framing, not a property of the object.
std::string StripAwsChunked(std::string_view v) {
  std::string out;
  while (!v.empty()) {
    const size_t comma = v.find(',');
    std::string_view tok = Trim(v.substr(0, comma));
    v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
    if (tok.empty() || tok == "aws-chunked") continue;
    if (!out.empty()) out += ",";
    out += tok;
  }
  return out;
}

enum class ChecksumKind { kNone, kCrc32, kCrc32c, kSha256 };

ChecksumKind ChecksumFromHeaderName(std::string_view name) {
  if (name == "x-amz-checksum-crc32") return ChecksumKind::kCrc32;
  if (name == "x-amz-checksum-crc32c") return ChecksumKind::kCrc32c;
  if (name == "x-amz-checksum-sha256") return ChecksumKind::kSha256;
  return ChecksumKind::kNone;
}

std::string_view ChecksumHeader(ChecksumKind k) {
  switch (k) {
    case ChecksumKind::kCrc32: return "x-amz-checksum-crc32";
    case ChecksumKind::kCrc32c: return "x-amz-checksum-crc32c";
    case ChecksumKind::kSha256: return "x-amz-checksum-sha256";
    default: return "";
  }
}

// Computes the hashes a PUT must check while the body streams.
class BodyHasher {
 public:
  BodyHasher(bool sha256, ChecksumKind checksum)
      : checksum_(checksum),
        sha256_(sha256 ? std::make_unique<Digest>(Digest::Kind::kSha256) : nullptr),
        checksum_sha_(checksum == ChecksumKind::kSha256
                          ? std::make_unique<Digest>(Digest::Kind::kSha256)
                          : nullptr) {}
  void Update(std::string_view d) {
    md5_.Update(d);
    if (sha256_) sha256_->Update(d);
    if (checksum_ == ChecksumKind::kCrc32) crc32_.Update(d);
    if (checksum_ == ChecksumKind::kCrc32c) crc32c_.Update(d);
    if (checksum_sha_) checksum_sha_->Update(d);
  }
  std::string Md5Raw() { return md5_.Final(); }
  std::string Sha256Hex() { return HexEncode(sha256_->Final()); }
  std::string ChecksumBase64() {
    switch (checksum_) {
      case ChecksumKind::kCrc32: return CrcToBase64(crc32_.Value());
      case ChecksumKind::kCrc32c: return CrcToBase64(crc32c_.Value());
      case ChecksumKind::kSha256: return Base64Encode(checksum_sha_->Final());
      default: return "";
    }
  }

 private:
  ChecksumKind checksum_;
  Digest md5_{Digest::Kind::kMd5};
  std::unique_ptr<Digest> sha256_;
  std::unique_ptr<Digest> checksum_sha_;
  Crc32 crc32_;
  Crc32c crc32c_;
};

class PutExchange final : public S3Exchange {
 public:
  PutExchange(std::shared_ptr<RequestContext> ctx, int part_number, std::string upload_id)
      : ctx_(std::move(ctx)), part_number_(part_number), upload_id_(std::move(upload_id)) {}
  ~PutExchange() override {
    if (transfer_) transfer_->Cancel();
  }

  // Every check that can be made before reading the body.
  core::Status Prepare() {
    const HttpRequest& req = ctx_->req;
    const ServiceConfig& cfg = ctx_->service->config();
    const std::string& payload = ctx_->auth.payload_hash;
    streaming_ = payload == kStreamingSigned || payload == kStreamingSignedTrailer ||
                 payload == kStreamingUnsignedTrailer;
    const std::string* cl = req.Header("content-length");
    const std::string* te = req.Header("transfer-encoding");
    if (streaming_) {
      const std::string* decoded = req.Header("x-amz-decoded-content-length");
      if (decoded == nullptr) return S3Error(S3Err::kMissingContentLength);
      auto n = ParseDecimal(*decoded);
      if (!n) return S3Error(S3Err::kInvalidArgument, "bad x-amz-decoded-content-length");
      size_ = *n;
    } else if (cl != nullptr) {
      auto n = ParseDecimal(*cl);
      if (!n) return S3Error(S3Err::kInvalidArgument, "bad Content-Length");
      size_ = *n;
    } else if (te == nullptr) {
      return S3Error(S3Err::kMissingContentLength);
    } else {
      size_unknown_ = true;
    }
    const uint64_t limit = part_number_ > 0 ? cfg.max_part_bytes : cfg.max_object_bytes;
    if (!size_unknown_ && size_ > limit) return S3Error(S3Err::kEntityTooLarge);
    limit_ = limit;
    if (const std::string* md5 = req.Header("content-md5")) {
      auto raw = Base64Decode(Trim(*md5));
      if (!raw || raw->size() != 16) return S3Error(S3Err::kInvalidDigest);
      content_md5_ = *raw;
    }
    for (const auto& [name, value] : req.headers) {
      const ChecksumKind k = ChecksumFromHeaderName(name);
      if (k == ChecksumKind::kNone) {
        if (name.rfind("x-amz-checksum-", 0) == 0 && name != "x-amz-checksum-mode" &&
            name != "x-amz-checksum-algorithm") {
          return S3Error(S3Err::kInvalidRequest, "unsupported checksum " + name);
        }
        continue;
      }
      if (checksum_ != ChecksumKind::kNone) {
        return S3Error(S3Err::kInvalidRequest, "Expecting a single x-amz-checksum- header");
      }
      checksum_ = k;
      checksum_expected_ = std::string(Trim(value));
    }
    if (const std::string* trailer = req.Header("x-amz-trailer")) {
      const ChecksumKind k = ChecksumFromHeaderName(ToLower(Trim(*trailer)));
      if (k == ChecksumKind::kNone) {
        return S3Error(S3Err::kInvalidRequest, "unsupported x-amz-trailer " + *trailer);
      }
      if (checksum_ != ChecksumKind::kNone) {
        return S3Error(S3Err::kInvalidRequest, "Expecting a single x-amz-checksum- header");
      }
      checksum_ = k;
      checksum_in_trailer_ = true;
    }
    const bool sha = !streaming_ && payload != kUnsignedPayload && !ctx_->auth.anonymous;
    hasher_ = std::make_unique<BodyHasher>(sha, checksum_);
    if (part_number_ == 0) {
      S3_ASSIGN_OR_RETURN(meta_, MetaFromRequest(*ctx_));
      S3_ASSIGN_OR_RETURN(writer_, ctx_->store().BeginPut(ctx_->bucket, ctx_->key));
    } else {
      S3_ASSIGN_OR_RETURN(writer_, ctx_->store().BeginPart(ctx_->bucket, ctx_->key, upload_id_,
                                                           part_number_));
    }
    if (streaming_) {
      AwsChunkedDecoder::Options o;
      o.signed_chunks = payload != kStreamingUnsignedTrailer;
      o.trailer = payload != kStreamingSigned;
      o.signed_trailer = payload == kStreamingSignedTrailer;
      o.signing_key = ctx_->auth.signing_key;
      o.amz_date = ctx_->auth.amz_date;
      o.scope = ctx_->auth.scope;
      o.seed_signature = ctx_->auth.seed_signature;
      if (o.signed_chunks && ctx_->auth.anonymous) {
        return S3Error(S3Err::kAccessDenied, "signed aws-chunked body without a signature");
      }
      decoder_ = std::make_unique<AwsChunkedDecoder>(
          o, [this](std::string_view d) { return Consume(d); });
    }
    if (req.Header(kRdmaTokenHeader) != nullptr) {
      // RDMA PUT / UploadPart: after the S3 checks above, the token; the body comes by
      // RDMA READ, so the request itself must have none.
      S3_ASSIGN_OR_RETURN(token_, CheckRdmaToken(*ctx_));
      if (token_.size > limit) return S3Error(S3Err::kEntityTooLarge);
      if (streaming_ || size_unknown_ || size_ != 0 || checksum_in_trailer_) {
        return S3Error(S3Err::kInvalidRequest,
                       "a request with x-amz-rdma-token carries no body (Content-Length: 0)");
      }
      rdma_ = true;
      size_ = token_.size;
    }
    return core::Status::Ok();
  }

  bool wants_body() const override { return !rdma_; }

  void FinishAsync(std::function<void(S3Response)> done) override {
    if (!rdma_) {
      done(Finish());
      return;
    }
    RdmaServer* rdma = ctx_->service->rdma_server();
    if (rdma == nullptr) {
      done(Fail(S3Error(S3Err::kNotImplemented, "this server has no RDMA fabric")));
      return;
    }
    // The READ pieces go through Consume, exactly like body bytes: hashes, size, Append.
    transfer_ = rdma->StartRead(
        token_, ctx_->auth.access_key,
        [this](std::string_view piece) { return Consume(piece); },
        [this, done = std::move(done)](core::Status st, uint64_t bytes) {
          transfer_.reset();
          transfer_done_ = true;
          if (!st.ok()) {
            done(Fail(st));  // the writer is dropped: nothing is stored
            return;
          }
          S3Response r = Finish();
          if (r.status == 200) AddRdmaReplyHeaders(r, 200, bytes);
          done(std::move(r));
        });
  }

  core::Status OnBody(std::string_view data) override {
    if (!error_.ok()) return error_;
    error_ = decoder_ ? decoder_->Feed(data) : Consume(data);
    return error_;
  }

  S3Response Finish() override {
    if (!error_.ok()) return Fail(error_);
    if (rdma_ && !transfer_done_) {
      return Fail(S3Error(S3Err::kNotImplemented,
                          "this transport cannot run RDMA transfers (it must use FinishAsync)"));
    }
    if (decoder_) {
      if (core::Status st = decoder_->Finish(); !st.ok()) return Fail(st);
    }
    if (!size_unknown_ && received_ != size_) return Fail(S3Error(S3Err::kIncompleteBody));
    if (const std::string& p = ctx_->auth.payload_hash;
        !streaming_ && p != kUnsignedPayload && !ctx_->auth.anonymous &&
        hasher_->Sha256Hex() != p) {
      return Fail(S3Error(S3Err::kXAmzContentSHA256Mismatch));
    }
    const std::string md5 = hasher_->Md5Raw();
    if (!content_md5_.empty() && content_md5_ != md5) return Fail(S3Error(S3Err::kBadDigest));
    if (checksum_in_trailer_) {
      for (const auto& [k, v] : decoder_ ? decoder_->trailers() : HeaderList{}) {
        if (k == ChecksumHeader(checksum_)) checksum_expected_ = v;
      }
      if (checksum_expected_.empty()) {
        return Fail(S3Error(S3Err::kInvalidRequest, "the trailing checksum is missing"));
      }
    }
    std::string checksum;
    if (checksum_ != ChecksumKind::kNone) {
      checksum = hasher_->ChecksumBase64();
      if (checksum != checksum_expected_) {
        return Fail(S3Error(S3Err::kBadDigest, "The " + std::string(ChecksumHeader(checksum_)) +
                                                   " you specified did not match the "
                                                   "calculated checksum."));
      }
    }
    meta_.size = received_;
    meta_.etag = HexEncode(md5);
    meta_.last_modified_unix = ctx_->now();
    if (!checksum.empty()) meta_.headers[std::string(ChecksumHeader(checksum_))] = checksum;
    const std::string etag = meta_.etag;
    if (core::Status st = writer_->Commit(std::move(meta_)); !st.ok()) return Fail(st);
    S3Response r = EmptyResponse(200);
    r.headers.emplace_back("etag", Quote(etag));
    if (!checksum.empty()) r.headers.emplace_back(std::string(ChecksumHeader(checksum_)), checksum);
    return r;
  }

 private:
  core::Status Consume(std::string_view d) {
    received_ += d.size();
    if (size_unknown_ ? received_ > limit_ : received_ > size_) {
      return S3Error(size_unknown_ ? S3Err::kEntityTooLarge : S3Err::kIncompleteBody,
                     "more body bytes than declared");
    }
    hasher_->Update(d);
    return writer_->Append(d);
  }
  S3Response Fail(const core::Status& st) {
    writer_.reset();  // discards the temporary data
    S3Response r = ctx_->Error(st);
    return r;
  }

  std::shared_ptr<RequestContext> ctx_;
  int part_number_;
  std::string upload_id_;
  bool streaming_ = false;
  bool size_unknown_ = false;
  uint64_t size_ = 0;
  uint64_t limit_ = 0;
  uint64_t received_ = 0;
  std::string content_md5_;
  ChecksumKind checksum_ = ChecksumKind::kNone;
  std::string checksum_expected_;
  bool checksum_in_trailer_ = false;
  std::unique_ptr<BodyHasher> hasher_;
  std::unique_ptr<AwsChunkedDecoder> decoder_;
  std::unique_ptr<ObjectWriter> writer_;
  ObjectMeta meta_;
  core::Status error_;
  // RDMA PUT.
  bool rdma_ = false;
  bool transfer_done_ = false;
  RdmaToken token_;
  std::shared_ptr<RdmaTransfer> transfer_;
};

// RFC 7232 section 6 order, as S3 applies it. Returns OK, PreconditionFailed or NotModified.
core::Status CheckConditions(const HttpRequest& req, const ObjectMeta& meta, bool get_or_head) {
  auto etag_matches = [&](std::string_view list) {
    while (!list.empty()) {
      const size_t comma = list.find(',');
      std::string_view tok = Trim(list.substr(0, comma));
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      if (tok.substr(0, 2) == "W/") tok.remove_prefix(2);
      if (tok == "*") return true;
      if (tok.size() >= 2 && tok.front() == '"' && tok.back() == '"') {
        tok = tok.substr(1, tok.size() - 2);
      }
      if (tok == meta.etag) return true;
    }
    return false;
  };
  const std::string* if_match = req.Header("if-match");
  const std::string* if_none = req.Header("if-none-match");
  const std::string* if_unmod = req.Header("if-unmodified-since");
  const std::string* if_mod = req.Header("if-modified-since");
  if (if_match != nullptr) {
    if (!etag_matches(*if_match)) return S3Error(S3Err::kPreconditionFailed);
  } else if (if_unmod != nullptr) {
    auto t = ParseHttpDate(*if_unmod);
    if (t && meta.last_modified_unix > *t) return S3Error(S3Err::kPreconditionFailed);
  }
  if (if_none != nullptr) {
    if (etag_matches(*if_none)) {
      return get_or_head ? S3Error(S3Err::kNotModified) : S3Error(S3Err::kPreconditionFailed);
    }
  } else if (if_mod != nullptr && get_or_head) {
    auto t = ParseHttpDate(*if_mod);
    if (t && meta.last_modified_unix <= *t) return S3Error(S3Err::kNotModified);
  }
  return core::Status::Ok();
}

}  // namespace

std::unique_ptr<S3Exchange> StartPutObject(std::shared_ptr<RequestContext> ctx, int part_number,
                                           std::string upload_id) {
  auto ex = std::make_unique<PutExchange>(ctx, part_number, std::move(upload_id));
  if (core::Status st = ex->Prepare(); !st.ok()) return Ready(ctx->Error(st));
  return ex;
}

core::Result<ObjectMeta> MetaFromRequest(const RequestContext& ctx) {
  ObjectMeta meta;
  uint64_t meta_bytes = 0;
  for (const auto& [name, value] : ctx.req.headers) {
    if (name.rfind("x-amz-meta-", 0) == 0) {
      meta_bytes += name.size() - 11 + value.size();
      meta.headers[name] = value;
      continue;
    }
    for (std::string_view h : kStoredHeaders) {
      if (name != h) continue;
      std::string v = name == "content-encoding" ? StripAwsChunked(value) : value;
      if (!v.empty()) meta.headers[name] = std::move(v);
    }
  }
  if (meta_bytes > ctx.service->config().max_metadata_bytes) {
    return S3Error(S3Err::kInvalidArgument,
                   "Your metadata headers exceed the maximum allowed metadata size");
  }
  return meta;
}

void AddObjectHeaders(const ObjectMeta& meta, bool with_checksums, S3Response& r) {
  r.headers.emplace_back("etag", Quote(meta.etag));
  r.headers.emplace_back("last-modified", FormatHttpDate(meta.last_modified_unix));
  bool has_type = false;
  for (const auto& [k, v] : meta.headers) {
    if (k.rfind("x-amz-checksum-", 0) == 0 && !with_checksums) continue;
    if (k == "content-type") has_type = true;
    r.headers.emplace_back(k, v);
  }
  if (!has_type) r.headers.emplace_back("content-type", "binary/octet-stream");
}

core::Result<std::optional<ByteRange>> ParseRange(std::string_view h, uint64_t size) {
  h = Trim(h);
  constexpr std::string_view kBytes = "bytes=";
  if (h.substr(0, kBytes.size()) != kBytes) return std::optional<ByteRange>();
  h.remove_prefix(kBytes.size());
  if (h.find(',') != std::string_view::npos) return std::optional<ByteRange>();
  const size_t dash = h.find('-');
  if (dash == std::string_view::npos) return std::optional<ByteRange>();
  const std::string_view a = Trim(h.substr(0, dash)), b = Trim(h.substr(dash + 1));
  if (a.empty()) {
    auto n = ParseDecimal(b);
    if (!n) return std::optional<ByteRange>();
    if (*n == 0 || size == 0) return S3Error(S3Err::kInvalidRange);
    const uint64_t len = std::min(*n, size);
    return std::optional<ByteRange>(ByteRange{size - len, len});
  }
  auto first = ParseDecimal(a);
  if (!first) return std::optional<ByteRange>();
  uint64_t last = UINT64_MAX;
  if (!b.empty()) {
    auto l = ParseDecimal(b);
    if (!l || *l < *first) return std::optional<ByteRange>();
    last = *l;
  }
  if (*first >= size) return S3Error(S3Err::kInvalidRange);
  last = std::min(last, size - 1);
  return std::optional<ByteRange>(ByteRange{*first, last - *first + 1});
}

S3Response GetObject(RequestContext& ctx, bool head) {
  auto reader = ctx.store().Open(ctx.bucket, ctx.key);
  if (!reader.ok()) return ctx.Error(reader.status());
  const ObjectMeta& meta = (*reader)->meta();
  if (core::Status st = CheckConditions(ctx.req, meta, true); !st.ok()) {
    S3Response r = ctx.Error(st);
    if (IsS3Error(st, S3Err::kNotModified)) {
      r.headers.emplace_back("etag", Quote(meta.etag));
      r.headers.emplace_back("last-modified", FormatHttpDate(meta.last_modified_unix));
    }
    return r;
  }
  std::optional<ByteRange> range;
  if (const std::string* rh = ctx.req.Header("range")) {
    auto parsed = ParseRange(*rh, meta.size);
    if (!parsed.ok()) {
      S3Response r = ctx.Error(parsed.status());
      r.headers.emplace_back("content-range", "bytes */" + std::to_string(meta.size));
      return r;
    }
    range = *parsed;
  }
  const std::string* mode = ctx.req.Header("x-amz-checksum-mode");
  S3Response r = EmptyResponse(range ? 206 : 200);
  AddObjectHeaders(meta, !range && mode != nullptr && *mode == "ENABLED", r);
  r.headers.emplace_back("accept-ranges", "bytes");
  // response-* query parameters override stored headers (used with presigned URLs).
  constexpr std::pair<std::string_view, std::string_view> kOverrides[] = {
      {"response-content-type", "content-type"},
      {"response-content-disposition", "content-disposition"},
      {"response-content-encoding", "content-encoding"},
      {"response-content-language", "content-language"},
      {"response-cache-control", "cache-control"},
      {"response-expires", "expires"}};
  for (const auto& [param, header] : kOverrides) {
    if (const std::string* v = ctx.Param(param)) {
      // A named copy: clang 14 cannot capture a structured binding in a lambda.
      const std::string_view name = header;
      std::erase_if(r.headers, [name](const auto& h) { return h.first == name; });
      r.headers.emplace_back(std::string(header), *v);
    }
  }
  if (range) {
    r.headers.emplace_back("content-range", "bytes " + std::to_string(range->first) + "-" +
                                                std::to_string(range->first + range->length - 1) +
                                                "/" + std::to_string(meta.size));
    r.offset = range->first;
    r.content_length = range->length;
  } else {
    r.content_length = meta.size;
  }
  if (head) {
    r.send_body = false;
  } else {
    r.reader = std::move(*reader);
  }
  return r;
}

S3Response DeleteObject(RequestContext& ctx) {
  core::Status st = ctx.store().Delete(ctx.bucket, ctx.key);
  if (!st.ok() && !IsS3Error(st, S3Err::kNoSuchKey)) return ctx.Error(st);
  return EmptyResponse(204);
}

S3Response DeleteObjects(RequestContext& ctx, std::string_view body) {
  if (const std::string* md5 = ctx.req.Header("content-md5")) {
    auto raw = Base64Decode(Trim(*md5));
    if (!raw || raw->size() != 16) return ctx.Error(S3Error(S3Err::kInvalidDigest));
    if (*raw != Md5(body)) return ctx.Error(S3Error(S3Err::kBadDigest));
  }
  auto req = ParseDeleteObjects(body);
  if (!req.ok()) return ctx.Error(req.status());
  if (core::Status st = ctx.store().HeadBucket(ctx.bucket); !st.ok()) return ctx.Error(st);
  XmlWriter x("DeleteResult");
  for (const auto& key : req->keys) {
    core::Status st = ValidateKey(key);
    if (st.ok()) st = ctx.store().Delete(ctx.bucket, key);
    if (st.ok() || IsS3Error(st, S3Err::kNoSuchKey)) {
      if (!req->quiet) x.Open("Deleted").Element("Key", key).Close("Deleted");
    } else {
      const S3ErrorInfo e = ToS3Error(st);
      x.Open("Error").Element("Key", key).Element("Code", e.code).Element("Message", e.message);
      x.Close("Error");
    }
  }
  return XmlResponse(200, x.Finish());
}

S3Response CopyObject(RequestContext& ctx) {
  std::string_view src = *ctx.req.Header("x-amz-copy-source");
  if (const size_t q = src.find('?'); q != std::string_view::npos) {
    if (src.substr(q + 1) != "versionId=null") {
      return ctx.Error(S3Error(S3Err::kInvalidArgument, "versions are not supported"));
    }
    src = src.substr(0, q);
  }
  auto decoded = UriDecode(src);
  if (!decoded) return ctx.Error(S3Error(S3Err::kInvalidArgument, "bad x-amz-copy-source"));
  std::string_view s = *decoded;
  if (!s.empty() && s.front() == '/') s.remove_prefix(1);
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= s.size()) {
    return ctx.Error(S3Error(S3Err::kInvalidArgument, "Copy Source must mention the source "
                                                      "bucket and key: sourcebucket/sourcekey"));
  }
  const std::string src_bucket(s.substr(0, slash)), src_key(s.substr(slash + 1));
  const std::string* directive_h = ctx.req.Header("x-amz-metadata-directive");
  const std::string directive = directive_h ? *directive_h : "COPY";
  if (directive != "COPY" && directive != "REPLACE") {
    return ctx.Error(S3Error(S3Err::kInvalidArgument, "Unknown metadata directive."));
  }
  if (src_bucket == ctx.bucket && src_key == ctx.key && directive == "COPY") {
    return ctx.Error(S3Error(
        S3Err::kInvalidRequest,
        "This copy request is illegal because it is trying to copy an object to itself without "
        "changing the object's metadata, storage class, website redirect location or encryption "
        "attributes."));
  }
  auto reader = ctx.store().Open(src_bucket, src_key);
  if (!reader.ok()) return ctx.Error(reader.status());
  const ObjectMeta& src_meta = (*reader)->meta();
  HttpRequest cond;
  for (const auto& [k, v] : ctx.req.headers) {
    constexpr std::string_view kPrefix = "x-amz-copy-source-";
    if (k.rfind(kPrefix, 0) == 0) cond.headers.emplace_back(k.substr(kPrefix.size()), v);
  }
  if (core::Status st = CheckConditions(cond, src_meta, false); !st.ok()) return ctx.Error(st);
  if (src_meta.size > ctx.service->config().max_object_bytes) {
    return ctx.Error(S3Error(S3Err::kInvalidRequest, "The source object is too large to copy"));
  }
  ObjectMeta meta;
  if (directive == "REPLACE") {
    auto m = MetaFromRequest(ctx);
    if (!m.ok()) return ctx.Error(m.status());
    meta = std::move(*m);
  } else {
    meta.headers = src_meta.headers;
  }
  auto writer = ctx.store().BeginPut(ctx.bucket, ctx.key);
  if (!writer.ok()) return ctx.Error(writer.status());
  Digest md5(Digest::Kind::kMd5);
  std::string buf(std::min<uint64_t>(src_meta.size, 1 << 20), '\0');
  uint64_t off = 0;
  while (off < src_meta.size) {
    auto n = (*reader)->Read(off, buf.data(), buf.size());
    if (!n.ok()) return ctx.Error(n.status());
    if (*n == 0) return ctx.Error(S3Error(S3Err::kInternalError, "source object shrank"));
    const std::string_view piece(buf.data(), *n);
    md5.Update(piece);
    if (core::Status st = (*writer)->Append(piece); !st.ok()) return ctx.Error(st);
    off += *n;
  }
  meta.size = src_meta.size;
  meta.etag = HexEncode(md5.Final());
  meta.last_modified_unix = ctx.now();
  const ObjectMeta result = meta;
  if (core::Status st = (*writer)->Commit(std::move(meta)); !st.ok()) return ctx.Error(st);
  XmlWriter x("CopyObjectResult");
  x.Element("LastModified", FormatIsoDate(result.last_modified_unix));
  x.Element("ETag", Quote(result.etag));
  return XmlResponse(200, x.Finish());
}

}  // namespace s3rdma::proto::internal
