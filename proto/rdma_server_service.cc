// The S3 side of the RDMA data path: the connect exchange (POST/DELETE /?rdmaConnect), the
// token checks shared by GET and PUT, the RDMA GET exchange and the x-amz-rdma-reply tag.
// The RDMA PUT lives in PutExchange (s3_service_objects.cc) so it shares every check and
// the durability path of an HTTP PUT.
#include <string>

#include "proto/fs_store.h"  // kPlantedBugsBuilt
#include "proto/internal/s3_ops.h"
#include "proto/rdma_server.h"
#include "proto/rdma_token.h"
#include "proto/s3_error.h"

namespace s3rdma::proto::internal {

bool HeaderIsSigned(const RequestContext& ctx, std::string_view name) {
  if (ctx.auth.anonymous) return true;  // nothing is signed; the policy allowed it
  std::string_view list;
  if (const std::string* auth = ctx.req.Header("authorization")) {
    std::string_view a = *auth;
    constexpr std::string_view kKey = "SignedHeaders=";
    const size_t pos = a.find(kKey);
    if (pos == std::string_view::npos) return false;
    list = a.substr(pos + kKey.size());
    list = list.substr(0, list.find(','));
  } else if (const std::string* q = ctx.Param("X-Amz-SignedHeaders")) {
    list = *q;
  }
  list = Trim(list);
  while (!list.empty()) {
    const size_t semi = list.find(';');
    if (Trim(list.substr(0, semi)) == name) return true;
    if (semi == std::string_view::npos) break;
    list.remove_prefix(semi + 1);
  }
  return false;
}

core::Result<RdmaToken> CheckRdmaToken(const RequestContext& ctx) {
  const std::string* text = ctx.req.Header(kRdmaTokenHeader);
  S3_CHECK(text != nullptr);
  RdmaServer* rdma = ctx.service->rdma_server();
  if (rdma == nullptr) {
    return S3Error(S3Err::kNotImplemented, "this server has no RDMA fabric (serve --rdma)");
  }
  auto token = ParseRdmaToken(*text);
  if (!token.ok()) {
    if (token.status().code() == core::StatusCode::kUnimplemented) {
      return S3Error(S3Err::kNotImplemented, token.status().message());
    }
    return RdmaError(kErrInvalidRdmaToken, token.status().message());
  }
  S3_RETURN_IF_ERROR(rdma->CheckConnection(token->desc.gid, token->desc.qpn, ctx.auth.access_key));
  return token;
}

void AddRdmaReplyHeaders(S3Response& r, int rdma_status, uint64_t bytes) {
  r.headers.emplace_back(std::string(kRdmaReplyHeader), std::to_string(rdma_status));
  r.headers.emplace_back(std::string(kRdmaBytesHeader), std::to_string(bytes));
}

namespace {

// GET with a token: the normal GET response (headers, range) without its body; the bytes
// go by RDMA WRITE first.
class RdmaGetExchange final : public S3Exchange {
 public:
  RdmaGetExchange(std::shared_ptr<RequestContext> ctx, S3Response response, RdmaToken token)
      : ctx_(std::move(ctx)), response_(std::move(response)), token_(token) {}
  ~RdmaGetExchange() override {
    if (transfer_) transfer_->Cancel();
  }
  bool wants_body() const override { return false; }
  core::Status OnBody(std::string_view) override { return core::Status::Ok(); }
  S3Response Finish() override {
    return ctx_->Error(S3Error(S3Err::kNotImplemented,
                               "this transport cannot run RDMA transfers (it must use FinishAsync)"));
  }
  void FinishAsync(std::function<void(S3Response)> done) override {
    RdmaServer* rdma = ctx_->service->rdma_server();
    if (rdma == nullptr) {
      done(ctx_->Error(S3Error(S3Err::kNotImplemented, "this server has no RDMA fabric")));
      return;
    }
    const uint64_t offset = response_.offset;
    const uint64_t length = response_.content_length;
    transfer_ = rdma->StartWrite(
        token_, ctx_->auth.access_key, std::move(response_.reader), offset, length,
        [this, done = std::move(done)](core::Status st, uint64_t bytes) {
          transfer_.reset();
          if (!st.ok()) {
            done(ctx_->Error(st));
            return;
          }
          S3Response r = std::move(response_);
          r.reader.reset();
          r.offset = 0;
          r.content_length = 0;
          r.body.clear();
          AddRdmaReplyHeaders(r, r.status, bytes);
          done(std::move(r));
        });
  }

 private:
  std::shared_ptr<RequestContext> ctx_;
  S3Response response_;
  RdmaToken token_;
  std::shared_ptr<RdmaTransfer> transfer_;
};

// Adds x-amz-rdma-reply: 501 to every reply that did not move its bytes by RDMA (token
// requests) and to every error reply of the connect exchange.
class RdmaTagExchange final : public S3Exchange {
 public:
  RdmaTagExchange(std::unique_ptr<S3Exchange> inner, bool token_request)
      : inner_(std::move(inner)), token_request_(token_request) {}
  bool wants_body() const override { return inner_->wants_body(); }
  core::Status OnBody(std::string_view data) override { return inner_->OnBody(data); }
  S3Response Finish() override { return Tag(inner_->Finish(), token_request_); }
  void FinishAsync(std::function<void(S3Response)> done) override {
    inner_->FinishAsync([token = token_request_, done = std::move(done)](S3Response r) {
      done(Tag(std::move(r), token));
    });
  }

 private:
  static S3Response Tag(S3Response r, bool token_request) {
    for (const auto& [k, v] : r.headers) {
      if (k == kRdmaReplyHeader) return r;
    }
    if (token_request || r.status >= 300) {
      r.headers.emplace_back(std::string(kRdmaReplyHeader), "501");
    }
    return r;
  }
  std::unique_ptr<S3Exchange> inner_;
  bool token_request_;
};

}  // namespace

std::unique_ptr<S3Exchange> TagRdmaReply(std::unique_ptr<S3Exchange> inner, bool token_request) {
  return std::make_unique<RdmaTagExchange>(std::move(inner), token_request);
}

std::unique_ptr<S3Exchange> StartRdmaGet(std::shared_ptr<RequestContext> ctx) {
  // The normal S3 checks first (bucket, key, conditionals, Range), then the token.
  S3Response r = GetObject(*ctx, false);
  if ((r.status != 200 && r.status != 206) || !r.reader) return Ready(std::move(r));
  auto token = CheckRdmaToken(*ctx);
  if (!token.ok()) return Ready(ctx->Error(token.status()));
  const bool planted_skip =
      kPlantedBugsBuilt && ctx->service->rdma_server()->options().plant_skip_token_range_check;
  if (r.content_length > token->size && !planted_skip) {
    return Ready(ctx->Error(RdmaError(
        kErrRdmaBufferTooSmall, "the object" + std::string(r.status == 206 ? " range" : "") +
                                    " is " + std::to_string(r.content_length) +
                                    " bytes; the token's buffer holds " +
                                    std::to_string(token->size))));
  }
  return std::make_unique<RdmaGetExchange>(ctx, std::move(r), *token);
}

S3Response RdmaConnectRequest(RequestContext& ctx) {
  const std::string& m = ctx.req.method;
  if (m != "POST" && m != "DELETE") return ctx.Error(S3Error(S3Err::kMethodNotAllowed));
  RdmaServer* rdma = ctx.service->rdma_server();
  if (rdma == nullptr) {
    return ctx.Error(S3Error(S3Err::kNotImplemented, "this server has no RDMA fabric (serve --rdma)"));
  }
  const std::string* header = ctx.req.Header(kRcConnectHeader);
  if (header == nullptr) {
    return ctx.Error(S3Error(S3Err::kInvalidArgument, "missing x-s3rdma-rc header"));
  }
  auto params = ParseRcConnectHeader(*header);
  if (!params.ok()) return ctx.Error(S3Error(S3Err::kInvalidArgument, params.status().message()));
  if (m == "DELETE") {
    core::Status st = rdma->Disconnect(params->gid, params->qpn, ctx.auth.access_key);
    return st.ok() ? EmptyResponse(204) : ctx.Error(st);
  }
  auto reply = rdma->Connect(*params, ctx.auth.access_key);
  if (!reply.ok()) return ctx.Error(reply.status());
  S3Response r = EmptyResponse(200);
  r.headers.emplace_back(std::string(kRcConnectHeader), FormatRcConnectHeader(*reply));
  r.headers.emplace_back(std::string(kRcMaxRequestsHeader),
                         std::to_string(rdma->max_requests_per_connection()));
  return r;
}

}  // namespace s3rdma::proto::internal
