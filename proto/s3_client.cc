#include "proto/s3_client.h"

#include <deque>
#include <limits>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "proto/client_common.h"

namespace s3rdma::proto {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;

struct S3Client::Impl : std::enable_shared_from_this<S3Client::Impl> {
  core::RealRuntime& runtime;
  ClientOptions options;
  SigningKeyCache signing_keys;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  std::deque<std::pair<ClientRequest, Callback>> queue;
  bool running = false;
  std::vector<char> chunk;  // response body receive buffer (Attempt)

  Impl(core::RealRuntime& rt, ClientOptions o) : runtime(rt), options(std::move(o)) {}
  int64_t NowUnix() const {
    return options.unix_time_at_runtime_zero + runtime.Now().ps() / 1'000'000'000'000;
  }
  awaitable<void> Drain();
  awaitable<core::Result<ClientResponse>> Exchange(ClientRequest& req);
  awaitable<core::Result<ClientResponse>> Attempt(ClientRequest& req, bool* retryable);
};

awaitable<core::Result<ClientResponse>> S3Client::Impl::Attempt(ClientRequest& r,
                                                                bool* retryable) {
  beast::error_code ec;
  *retryable = false;
  if (!stream) {
    tcp::resolver resolver(runtime.io());
    auto results = co_await resolver.async_resolve(options.host, std::to_string(options.port),
                                                   asio::redirect_error(use_awaitable, ec));
    if (ec) co_return core::Status::Unavailable("resolve " + options.host + ": " + ec.message());
    stream.emplace(runtime.io());
    stream->expires_after(std::chrono::seconds(30));
    co_await stream->async_connect(results, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      stream.reset();
      co_return core::Status::Unavailable("connect " + options.host + ":" +
                                          std::to_string(options.port) + ": " + ec.message());
    }
    stream->socket().set_option(tcp::no_delay(true));
    buffer.clear();
    // Beast reads max(512, capacity - size) bytes per read: without room, a 64 MiB body
    // arrived in 131072 recvmsg calls of 512 bytes.
    if (buffer.capacity() < (256u << 10)) buffer.reserve(256u << 10);
  } else {
    *retryable = true;  // a kept-alive connection may have been closed by the server
  }
  const HttpRequest signed_req = BuildSignedRequest(r, options, NowUnix(), &signing_keys);
  http::request<http::string_body> req{http::string_to_verb(r.method), signed_req.target, 11};
  for (const auto& [k, v] : signed_req.headers) req.set(k, v);
  req.body() = r.body;
  req.prepare_payload();
  if (!SendsContentLength(r)) req.erase(http::field::content_length);
  req.keep_alive(true);
  stream->expires_after(std::chrono::seconds(300));
  co_await http::async_write(*stream, req, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    stream.reset();
    co_return core::Status::Unavailable("send: " + ec.message());
  }
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  if (r.method == "HEAD") parser.skip(true);
  co_await http::async_read_header(*stream, buffer, parser,
                                   asio::redirect_error(use_awaitable, ec));
  if (ec) {
    stream.reset();
    co_return core::Status::Unavailable("receive: " + ec.message());
  }
  *retryable = false;
  ClientResponse out;
  out.status = static_cast<int>(parser.get().result_int());
  for (const auto& f : parser.get()) {
    const auto name = f.name_string();
    out.headers.emplace_back(ToLower(std::string_view(name.data(), name.size())),
                             std::string(f.value()));
  }
  const bool ok = out.status >= 200 && out.status < 300;
  // One receive buffer per client, reused: a fresh 1 MiB vector per request costs a page
  // fault per 4 KiB (mmap'd by malloc, zeroed), which dominated small GETs.
  if (chunk.empty()) chunk.resize(1 << 20);
  core::Status sink_status;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    co_await http::async_read(*stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      stream.reset();
      co_return core::Status::Unavailable("receive body: " + ec.message());
    }
    const std::string_view got(chunk.data(), chunk.size() - parser.get().body().size);
    if (ok && r.body_sink) {
      if (sink_status.ok()) sink_status = r.body_sink(got);
    } else {
      out.body.append(got);
    }
  }
  if (!parser.get().keep_alive()) stream.reset();
  if (!sink_status.ok()) co_return sink_status;
  co_return ResponseOrError(r, std::move(out));
}

awaitable<core::Result<ClientResponse>> S3Client::Impl::Exchange(ClientRequest& r) {
  bool retryable = false;
  auto result = co_await Attempt(r, &retryable);
  if (!result.ok() && retryable) result = co_await Attempt(r, &retryable);
  co_return result;
}

awaitable<void> S3Client::Impl::Drain() {
  auto self = shared_from_this();
  while (!queue.empty()) {
    auto [req, cb] = std::move(queue.front());
    queue.pop_front();
    auto result = co_await Exchange(req);
    cb(std::move(result));
  }
  running = false;
}

S3Client::S3Client(core::RealRuntime& runtime, ClientOptions options)
    : impl_(std::make_shared<Impl>(runtime, std::move(options))) {}

S3Client::~S3Client() = default;

int64_t S3Client::NowUnix() const { return impl_->NowUnix(); }

core::Runtime& S3Client::runtime() { return impl_->runtime; }

void S3Client::Send(ClientRequest request, Callback done) {
  impl_->queue.emplace_back(std::move(request), std::move(done));
  if (!impl_->running) {
    impl_->running = true;
    asio::co_spawn(impl_->runtime.io(), impl_->Drain(), asio::detached);
  }
}

core::Result<ClientResponse> SendAndWait(core::RealRuntime& runtime, S3Client& client,
                                         ClientRequest request) {
  std::optional<core::Result<ClientResponse>> result;
  client.Send(std::move(request), [&](core::Result<ClientResponse> r) {
    result = std::move(r);
    runtime.Stop();
  });
  while (!result) runtime.Run();
  return std::move(*result);
}

}  // namespace s3rdma::proto
