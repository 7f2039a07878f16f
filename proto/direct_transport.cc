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
  std::unique_ptr<S3Exchange> exchange;
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
  auto call = std::make_shared<Call>();
  call->request = std::move(request);
  call->done = std::move(done);
  ++stats_->requests;
  stats_->bytes_sent += call->request.body.size();
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
  HttpRequest req = BuildSignedRequest(r, options_, NowUnix());
  if (SendsContentLength(r)) req.headers.emplace_back("content-length", std::to_string(r.body.size()));
  call->exchange = service_.Start(std::move(req));
  if (call->exchange->wants_body()) {
    if (direct_.body_chunk_interval > core::Duration::Zero()) {
      FeedBody(std::move(call), 0);
      return;
    }
    const std::string_view body = r.body;
    for (size_t off = 0; off < body.size(); off += direct_.body_chunk_bytes) {
      if (!call->exchange->OnBody(body.substr(off, direct_.body_chunk_bytes)).ok()) break;
    }
  }
  Finish(std::move(call));
}

void DirectTransport::FeedBody(std::shared_ptr<Call> call, size_t offset) {
  const std::string_view body = call->request.body;
  if (offset < body.size()) {
    const bool ok = call->exchange->OnBody(body.substr(offset, direct_.body_chunk_bytes)).ok();
    const size_t next = offset + direct_.body_chunk_bytes;
    if (ok && next < body.size()) {
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
  exchange->FinishAsync([this, alive, call](S3Response s) mutable {
    // The exchange may be inside this very callback: destroy it from a later task.
    std::shared_ptr<S3Exchange> finished(std::move(call->exchange));
    runtime_.Post([finished]() mutable { finished.reset(); });
    if (alive.expired()) return;
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
  });
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
