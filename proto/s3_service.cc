// S3Service: routing, authentication, error rendering and bucket-level operations.
#include "proto/s3_service.h"

#include <cstdio>

#include "proto/internal/s3_ops.h"
#include "proto/rdma_token.h"
#include "proto/s3_error.h"
#include "proto/xml.h"

namespace s3rdma::proto {
namespace internal {

const std::string* RequestContext::Param(std::string_view name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return &v;
  }
  return nullptr;
}

S3Response RequestContext::Error(const core::Status& st) const {
  S3Response r = service->ErrorResponse(st, resource);
  if (req.method == "HEAD") r.send_body = false;
  return r;
}

namespace {

class ReadyExchange final : public S3Exchange {
 public:
  explicit ReadyExchange(S3Response r) : response_(std::move(r)) {}
  bool wants_body() const override { return false; }
  core::Status OnBody(std::string_view) override { return core::Status::Ok(); }
  S3Response Finish() override { return std::move(response_); }

 private:
  S3Response response_;
};

class XmlBodyExchange final : public S3Exchange {
 public:
  XmlBodyExchange(std::shared_ptr<RequestContext> ctx,
                  std::function<S3Response(RequestContext&, std::string_view)> handler)
      : ctx_(std::move(ctx)), handler_(std::move(handler)) {}
  bool wants_body() const override { return true; }
  core::Status OnBody(std::string_view data) override {
    if (body_.size() + data.size() > ctx_->service->config().max_xml_body_bytes) {
      error_ = S3Error(S3Err::kMalformedXML, "request body too large");
      return error_;
    }
    body_.append(data);
    return core::Status::Ok();
  }
  S3Response Finish() override {
    if (!error_.ok()) return ctx_->Error(error_);
    return handler_(*ctx_, body_);
  }

 private:
  std::shared_ptr<RequestContext> ctx_;
  std::function<S3Response(RequestContext&, std::string_view)> handler_;
  std::string body_;
  core::Status error_;
};

}  // namespace

std::unique_ptr<S3Exchange> Ready(S3Response response) {
  return std::make_unique<ReadyExchange>(std::move(response));
}

std::unique_ptr<S3Exchange> WithXmlBody(
    std::shared_ptr<RequestContext> ctx,
    std::function<S3Response(RequestContext&, std::string_view body)> handler) {
  return std::make_unique<XmlBodyExchange>(std::move(ctx), std::move(handler));
}

S3Response XmlResponse(int status, std::string xml) {
  S3Response r;
  r.status = status;
  r.headers.emplace_back("content-type", "application/xml");
  r.content_length = xml.size();
  r.body = std::move(xml);
  return r;
}

S3Response EmptyResponse(int status) {
  S3Response r;
  r.status = status;
  return r;
}

S3Response ListBuckets(RequestContext& ctx) {
  XmlWriter x("ListAllMyBucketsResult");
  x.Open("Owner").Element("ID", ctx.auth.access_key).Element("DisplayName", ctx.auth.access_key);
  x.Close("Owner").Open("Buckets");
  for (const auto& b : ctx.store().ListBuckets()) {
    x.Open("Bucket").Element("Name", b.name).Element("CreationDate", FormatIsoDate(b.created_unix));
    x.Close("Bucket");
  }
  x.Close("Buckets");
  return XmlResponse(200, x.Finish());
}

namespace {

S3Response CreateBucket(RequestContext& ctx, std::string_view body) {
  auto location = ParseCreateBucketConfiguration(body);
  if (!location.ok()) return ctx.Error(location.status());
  if (core::Status st = ctx.store().CreateBucket(ctx.bucket, ctx.now()); !st.ok()) {
    return ctx.Error(st);
  }
  S3Response r = EmptyResponse(200);
  r.headers.emplace_back("location", "/" + ctx.bucket);
  return r;
}

S3Response GetBucketLocation(RequestContext& ctx) {
  if (core::Status st = ctx.store().HeadBucket(ctx.bucket); !st.ok()) return ctx.Error(st);
  // us-east-1 is reported as an empty LocationConstraint, as S3 does.
  const std::string region = ctx.service->config().region == "us-east-1"
                                 ? std::string()
                                 : ctx.service->config().region;
  std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint "
                    "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">" +
                    XmlEscape(region) + "</LocationConstraint>";
  return XmlResponse(200, std::move(xml));
}

S3Response GetBucketVersioning(RequestContext& ctx) {
  if (core::Status st = ctx.store().HeadBucket(ctx.bucket); !st.ok()) return ctx.Error(st);
  XmlWriter x("VersioningConfiguration");
  return XmlResponse(200, x.Finish());
}

// Sub-resources we do not implement; anything else in the query is an ordinary parameter.
constexpr std::string_view kUnsupported[] = {
    "acl", "policy", "cors", "lifecycle", "tagging", "website", "replication", "logging",
    "notification", "encryption", "object-lock", "retention", "legal-hold", "torrent",
    "restore", "select", "accelerate", "requestPayment", "inventory", "analytics", "metrics",
    "ownershipControls", "publicAccessBlock", "intelligent-tiering", "attributes",
    "policyStatus"};

std::unique_ptr<S3Exchange> Dispatch(std::shared_ptr<RequestContext> c) {
  RequestContext& ctx = *c;
  const std::string& m = ctx.req.method;
  for (std::string_view sub : kUnsupported) {
    if (ctx.Has(sub)) {
      return Ready(ctx.Error(S3Error(S3Err::kNotImplemented,
                                     "The ?" + std::string(sub) +
                                         " sub-resource is not implemented by s3rdma")));
    }
  }
  if (ctx.bucket.empty()) {
    if (ctx.Has(kRdmaConnectSubresource)) return Ready(RdmaConnectRequest(ctx));
    if (m == "GET") return Ready(ListBuckets(ctx));
    return Ready(ctx.Error(S3Error(S3Err::kMethodNotAllowed)));
  }
  if (ctx.key.empty()) {
    if (m == "PUT") {
      if (ctx.Has("versioning")) {
        return Ready(ctx.Error(S3Error(S3Err::kNotImplemented, "versioning is not supported")));
      }
      return WithXmlBody(c, CreateBucket);
    }
    if (m == "HEAD") {
      core::Status st = ctx.store().HeadBucket(ctx.bucket);
      if (!st.ok()) return Ready(ctx.Error(st));
      S3Response r = EmptyResponse(200);
      r.headers.emplace_back("x-amz-bucket-region", ctx.service->config().region);
      return Ready(std::move(r));
    }
    if (m == "DELETE") {
      core::Status st = ctx.store().DeleteBucket(ctx.bucket);
      return Ready(st.ok() ? EmptyResponse(204) : ctx.Error(st));
    }
    if (m == "POST" && ctx.Has("delete")) return WithXmlBody(c, DeleteObjects);
    if (m == "GET") {
      if (ctx.Has("location")) return Ready(GetBucketLocation(ctx));
      if (ctx.Has("versioning")) return Ready(GetBucketVersioning(ctx));
      if (ctx.Has("uploads")) return Ready(ListMultipartUploads(ctx));
      if (ctx.Has("versions")) return Ready(ListObjectVersions(ctx));
      const std::string* lt = ctx.Param("list-type");
      if (lt != nullptr && *lt == "2") return Ready(ListObjects(ctx, 2));
      return Ready(ListObjects(ctx, 1));
    }
    return Ready(ctx.Error(S3Error(S3Err::kMethodNotAllowed)));
  }
  // Object level.
  if (m == "PUT") {
    const std::string* part = ctx.Param("partNumber");
    const std::string* upload = ctx.Param("uploadId");
    if (part != nullptr || upload != nullptr) {
      if (part == nullptr || upload == nullptr) {
        return Ready(ctx.Error(S3Error(S3Err::kInvalidArgument,
                                       "UploadPart needs both partNumber and uploadId")));
      }
      auto n = ParseDecimal(*part, kMaxPartNumber);
      if (!n || *n < 1) {
        return Ready(ctx.Error(S3Error(
            S3Err::kInvalidArgument, "Part number must be an integer between 1 and 10000")));
      }
      if (ctx.req.Header("x-amz-copy-source") != nullptr) {
        return Ready(ctx.Error(S3Error(S3Err::kNotImplemented, "UploadPartCopy is not supported")));
      }
      return StartPutObject(c, static_cast<int>(*n), *upload);
    }
    if (ctx.req.Header("x-amz-copy-source") != nullptr) return Ready(CopyObject(ctx));
    return StartPutObject(c, 0, "");
  }
  if (m == "GET") {
    if (ctx.Has("uploadId")) return Ready(ListParts(ctx));
    if (ctx.req.Header(kRdmaTokenHeader) != nullptr) return StartRdmaGet(c);
    return Ready(GetObject(ctx, false));
  }
  if (m == "HEAD") return Ready(GetObject(ctx, true));
  if (m == "DELETE") {
    if (ctx.Has("uploadId")) return Ready(AbortMultipartUpload(ctx));
    return Ready(DeleteObject(ctx));
  }
  if (m == "POST") {
    if (ctx.Has("uploads")) return Ready(CreateMultipartUpload(ctx));
    if (ctx.Has("uploadId")) return WithXmlBody(c, CompleteMultipartUpload);
  }
  return Ready(ctx.Error(S3Error(S3Err::kMethodNotAllowed)));
}

}  // namespace
}  // namespace internal

S3Service::S3Service(ServiceConfig config, ObjectStore& store, CredentialStore credentials,
                     core::Runtime& runtime)
    : config_(std::move(config)),
      store_(store),
      credentials_(std::move(credentials)),
      runtime_(runtime) {}

S3Service::~S3Service() = default;

int64_t S3Service::NowUnix() const {
  return config_.unix_time_at_runtime_zero + runtime_.Now().ps() / 1'000'000'000'000;
}

S3Response S3Service::ErrorResponse(const core::Status& status, std::string_view resource) {
  const S3ErrorInfo e = RdmaErrorInfo(status).value_or(ToS3Error(status));
  char id[20];
  std::snprintf(id, sizeof(id), "%016llx", static_cast<unsigned long long>(NextRequestId()));
  XmlWriter x("Error", false);
  x.Element("Code", e.code).Element("Message", e.message).Element("Resource", resource);
  x.Element("RequestId", id);
  S3Response r = internal::XmlResponse(e.http_status, x.Finish());
  if (e.http_status == 304) {
    r.body.clear();
    r.content_length = 0;
    r.send_body = false;
    r.headers.clear();
  }
  return r;
}

std::unique_ptr<S3Exchange> S3Service::Start(HttpRequest request) {
  const bool token_request = request.Header(kRdmaTokenHeader) != nullptr;
  bool connect_request = false;
  if (auto q = ParseQuery(request.RawQuery())) {
    for (const auto& [k, v] : *q) connect_request = connect_request || k == kRdmaConnectSubresource;
  }
  std::unique_ptr<S3Exchange> ex = StartUntagged(std::move(request));
  if (token_request || connect_request) return internal::TagRdmaReply(std::move(ex), token_request);
  return ex;
}

std::unique_ptr<S3Exchange> S3Service::StartUntagged(HttpRequest request) {
  auto ctx = std::make_shared<internal::RequestContext>();
  ctx->service = this;
  ctx->req = std::move(request);
  const HttpRequest& req = ctx->req;
  auto fail = [&](const core::Status& st) { return internal::Ready(ctx->Error(st)); };

  auto query = ParseQuery(req.RawQuery());
  auto path = UriDecode(req.RawPath());
  if (!query || !path || path->empty() || (*path)[0] != '/') {
    ctx->resource = std::string(req.RawPath());
    return fail(S3Error(S3Err::kInvalidArgument, "malformed request URI"));
  }
  ctx->query = std::move(*query);

  // Virtual-host addressing: "<bucket>.<suffix>[:port]".
  std::string host = req.Header("host") ? ToLower(*req.Header("host")) : std::string();
  if (const size_t colon = host.rfind(':'); colon != std::string::npos &&
                                           host.find(']') == std::string::npos) {
    host.resize(colon);
  }
  std::string_view rest = std::string_view(*path).substr(1);
  for (const auto& suffix : config_.virtual_host_suffixes) {
    if (host.size() > suffix.size() + 1 && host.compare(host.size() - suffix.size(),
                                                        suffix.size(), suffix) == 0 &&
        host[host.size() - suffix.size() - 1] == '.') {
      ctx->bucket = host.substr(0, host.size() - suffix.size() - 1);
      ctx->key = std::string(rest);
      break;
    }
  }
  if (ctx->bucket.empty()) {
    const size_t slash = rest.find('/');
    ctx->bucket = std::string(rest.substr(0, slash));
    if (slash != std::string_view::npos) ctx->key = std::string(rest.substr(slash + 1));
  }
  ctx->resource = "/" + ctx->bucket + (ctx->key.empty() ? "" : "/" + ctx->key);

  AuthPolicy policy = config_.auth;
  if ((req.method == "GET" || req.method == "HEAD") &&
      config_.anonymous_read_buckets.count(ctx->bucket) != 0) {
    policy.allow_anonymous = true;
  }
  auto auth = VerifyRequest(req, credentials_, NowUnix(), policy, &signing_keys_);
  if (!auth.ok()) return fail(auth.status());
  ctx->auth = std::move(*auth);
  // The RDMA headers say where the server reads or writes: they must be signed.
  for (std::string_view h : {kRdmaTokenHeader, kRcConnectHeader}) {
    if (req.Header(h) != nullptr && !internal::HeaderIsSigned(*ctx, h)) {
      return fail(S3Error(S3Err::kAccessDenied, std::string(h) + " must be a signed header"));
    }
  }

  if (!ctx->bucket.empty()) {
    if (core::Status st = ValidateBucketName(ctx->bucket); !st.ok()) {
      // Existing-bucket operations on an invalid name: the bucket cannot exist.
      if (req.method == "PUT" && ctx->key.empty()) return fail(st);
      return fail(S3Error(S3Err::kNoSuchBucket));
    }
  }
  if (!ctx->key.empty()) {
    if (core::Status st = ValidateKey(ctx->key); !st.ok()) return fail(st);
  }
  return internal::Dispatch(std::move(ctx));
}

}  // namespace s3rdma::proto
