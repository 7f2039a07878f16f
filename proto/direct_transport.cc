#include "proto/direct_transport.h"

#include <algorithm>
#include <string>
#include <utility>

#include "core/check.h"
#include "proto/client_common.h"

namespace s3rdma::proto {

struct DirectTransport::Call {
  ClientRequest request;
  Callback done;
  DirectRequestExtras extras;
  std::unique_ptr<S3Exchange> exchange;
  std::shared_ptr<const std::string> zeros;  // phantom body pieces

  uint64_t body_size() const {
    return extras.phantom_body_bytes > 0 ? extras.phantom_body_bytes : request.body.size();
  }
  // The body piece at `offset` (at most `chunk` bytes).
  std::string_view Piece(uint64_t offset, size_t chunk) const {
    if (extras.phantom_body_bytes == 0) return std::string_view(request.body).substr(offset, chunk);
    const uint64_t n = std::min<uint64_t>(chunk, extras.phantom_body_bytes - offset);
    return std::string_view(zeros->data(), static_cast<size_t>(n));
  }
};

DirectTransport::DirectTransport(S3Service& service, core::Runtime& runtime,
                                 ClientOptions options, DirectTransportOptions direct)
    : service_(service),
      runtime_(runtime),
      options_(std::move(options)),
      direct_(direct),
      stats_(std::make_shared<DirectTransportStats>()),
      alive_(std::make_shared<bool>(true)) {
  S3_CHECK(direct_.body_chunk_bytes >= 1);
}

DirectTransport::~DirectTransport() = default;

int64_t DirectTransport::NowUnix() const {
  return options_.unix_time_at_runtime_zero + runtime_.Now().ps() / 1'000'000'000'000;
}

void DirectTransport::Send(ClientRequest request, Callback done) {
  Send(std::move(request), std::move(done), DirectRequestExtras{});
}

void DirectTransport::Send(ClientRequest request, Callback done, DirectRequestExtras extras) {
  S3_CHECK_MSG(extras.phantom_body_bytes == 0 || request.body.empty(),
               "a phantom request body with real body bytes");
  auto call = std::make_shared<Call>();
  call->request = std::move(request);
  call->done = std::move(done);
  call->extras = std::move(extras);
  if (call->extras.phantom_body_bytes > 0) {
    if (!zeros_) zeros_ = std::make_shared<const std::string>(direct_.body_chunk_bytes, '\0');
    call->zeros = zeros_;
    bool named = false;
    for (const auto& [k, v] : call->request.headers) named = named || k == "x-amz-content-sha256";
    // Bytes that do not exist have no SHA-256 to sign.
    if (!named) call->request.headers.emplace_back("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
  }
  ++stats_->requests;
  stats_->bytes_sent += call->body_size();
  std::weak_ptr<bool> alive = alive_;
  auto task = [this, alive, call]() mutable {
    if (alive.expired()) return;
    Run(std::move(call));
  };
  if (direct_.latency > core::Duration::Zero()) {
    runtime_.After(direct_.latency, std::move(task));
  } else {
    runtime_.Post(std::move(task));
  }
}

void DirectTransport::Run(std::shared_ptr<Call> call) {
  const ClientRequest& r = call->request;
  HttpRequest req = BuildSignedRequest(r, options_, NowUnix(), &signing_keys_);
  if (call->extras.phantom_body_bytes > 0 || SendsContentLength(r)) {
    req.headers.emplace_back("content-length", std::to_string(call->body_size()));
  }
  call->exchange = service_.Start(std::move(req));
  if (!call->exchange->wants_body() || call->body_size() == 0 || !call->extras.body_crossing) {
    SendBody(std::move(call));
    return;
  }
  std::weak_ptr<bool> alive = alive_;
  const uint64_t size = call->body_size();
  // The hook holds `call` (and so the exchange) until the body has crossed.
  auto hook = call->extras.body_crossing;
  hook(BodyDirection::kRequest, size, [this, alive, call]() mutable {
    if (alive.expired()) return;
    SendBody(std::move(call));
  });
}

void DirectTransport::SendBody(std::shared_ptr<Call> call) {
  if (call->exchange->wants_body()) {
    if (direct_.body_chunk_interval > core::Duration::Zero()) {
      FeedBody(std::move(call), 0);
      return;
    }
    const uint64_t size = call->body_size();
    for (uint64_t off = 0; off < size; off += direct_.body_chunk_bytes) {
      if (!call->exchange->OnBody(call->Piece(off, direct_.body_chunk_bytes)).ok()) break;
    }
  }
  Finish(std::move(call));
}

void DirectTransport::FeedBody(std::shared_ptr<Call> call, size_t offset) {
  const uint64_t size = call->body_size();
  if (offset < size) {
    const bool ok = call->exchange->OnBody(call->Piece(offset, direct_.body_chunk_bytes)).ok();
    const size_t next = offset + direct_.body_chunk_bytes;
    if (ok && next < size) {
      std::weak_ptr<bool> alive = alive_;
      // Holding `call` keeps the exchange alive; a destroyed transport drops it unfinished.
      runtime_.After(direct_.body_chunk_interval, [this, alive, call, next]() mutable {
        if (alive.expired()) return;
        FeedBody(std::move(call), next);
      });
      return;
    }
  }
  Finish(std::move(call));
}

void DirectTransport::Finish(std::shared_ptr<Call> call) {
  std::weak_ptr<bool> alive = alive_;
  S3Exchange* exchange = call->exchange.get();
  // `call` owns the exchange and the callback owns `call`: the cycle is broken when the
  // callback runs (it takes the exchange out of `call`).
  // The completion may come after the transport is gone (an RDMA transfer the service runs
  // outlives a client that went away): it must touch nothing of `this` until `alive` says so.
  // The runtime outlives the transport (header contract).
  core::Runtime& runtime = runtime_;
  exchange->FinishAsync([this, &runtime, alive, call](S3Response s) mutable {
    // The exchange may be inside this very callback: destroy it from a later task.
    std::shared_ptr<S3Exchange> finished(std::move(call->exchange));
    runtime.Post([finished]() mutable { finished.reset(); });
    if (alive.expired()) return;
    auto response = std::make_shared<S3Response>(std::move(s));
    const bool object_body = response->send_body && response->reader && call->request.method != "HEAD" &&
                             response->content_length > 0;
    if (!object_body || !call->extras.body_crossing) {
      Respond(std::move(call), std::move(response));
      return;
    }
    auto hook = call->extras.body_crossing;
    hook(BodyDirection::kResponse, response->content_length, [this, alive, call, response]() mutable {
      if (alive.expired()) return;
      Respond(std::move(call), std::move(response));
    });
  });
}

void DirectTransport::Respond(std::shared_ptr<Call> call, std::shared_ptr<S3Response> response) {
  S3Response& s = *response;
  ClientResponse out;
  out.status = s.status;
  out.headers = std::move(s.headers);
  // As the HTTP server frames it: HEAD and 304 describe (content_length), others carry.
  const uint64_t length = s.send_body && !s.reader ? s.body.size() : s.content_length;
  out.headers.emplace_back("content-length", std::to_string(length));
  const bool ok = out.status >= 200 && out.status < 300;
  core::Status sink_status;
  auto take = [&](std::string_view bytes) {
    stats_->bytes_received += bytes.size();
    if (ok && call->request.body_sink) {
      if (sink_status.ok()) sink_status = call->request.body_sink(bytes);
    } else {
      out.body.append(bytes);
    }
  };
  if (s.send_body && call->request.method != "HEAD") {
    if (!s.reader) {
      take(s.body);
    } else if (direct_.phantom_bodies) {
      stats_->bytes_received += s.content_length;  // sizes only: nothing to read
    } else if (auto view = s.reader->Contiguous()) {
      take(view->substr(s.offset, s.content_length));
    } else {
      std::string chunk(std::min<uint64_t>(s.content_length, 1 << 20), '\0');
      uint64_t off = s.offset, left = s.content_length;
      while (left > 0) {
        auto n = s.reader->Read(off, chunk.data(), std::min<uint64_t>(chunk.size(), left));
        if (!n.ok() || *n == 0) {
          // What an HTTP client sees as a short body on a closed connection.
          sink_status = core::Status::Unavailable(
              "receive body: " + (n.ok() ? std::string("short object") : n.status().message()));
          break;
        }
        take(std::string_view(chunk.data(), *n));
        off += *n;
        left -= *n;
      }
    }
  }
  if (!sink_status.ok()) {
    Deliver(std::move(call), sink_status);
  } else {
    Deliver(call, ResponseOrError(call->request, std::move(out)));
  }
}

void DirectTransport::Deliver(std::shared_ptr<Call> call, core::Result<ClientResponse> result) {
  std::weak_ptr<bool> alive = alive_;
  auto task = [this, alive, call, result = std::move(result)]() mutable {
    if (alive.expired()) return;
    ++stats_->responses;
    Callback done = std::move(call->done);
    done(std::move(result));
  };
  if (direct_.latency > core::Duration::Zero()) {
    runtime_.After(direct_.latency, std::move(task));
  } else {
    runtime_.Post(std::move(task));
  }
}

}  // namespace s3rdma::proto
