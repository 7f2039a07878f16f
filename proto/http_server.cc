#include "proto/http_server.h"

#include <sys/sendfile.h>

#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <limits>
#include <list>
#include <optional>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "proto/s3_error.h"

namespace s3rdma::proto {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  core::RealRuntime& runtime;
  S3Service& service;
  HttpServerOptions options;
  tcp::acceptor acceptor;
  uint16_t port = 0;
  bool stopped = false;
  std::list<beast::tcp_stream*> streams;  // open connections, for Stop()

  Impl(core::RealRuntime& rt, S3Service& svc, HttpServerOptions opt)
      : runtime(rt), service(svc), options(std::move(opt)), acceptor(rt.io()) {}

  awaitable<void> AcceptLoop();
  awaitable<void> Session(tcp::socket socket);
  awaitable<bool> WriteResponse(beast::tcp_stream& stream, S3Response r, unsigned version,
                                bool keep_alive, std::vector<char>& chunk);
  void AddCommonHeaders(S3Response& r);
};

namespace {

std::chrono::nanoseconds ToChrono(core::Duration d) { return std::chrono::nanoseconds(d.ns()); }

S3Response ProtocolError(S3Service& service, S3Err err, std::string_view message) {
  S3Response r = service.ErrorResponse(S3Error(err, message), "/");
  r.close_connection = true;
  return r;
}

}  // namespace

void HttpServer::Impl::AddCommonHeaders(S3Response& r) {
  char id[20];
  std::snprintf(id, sizeof(id), "%016llx",
                static_cast<unsigned long long>(service.NextRequestId()));
  r.headers.emplace_back("x-amz-request-id", id);
  r.headers.emplace_back("server", "s3rdma");
  r.headers.emplace_back("date", FormatHttpDate(service.NowUnix()));
}

awaitable<bool> HttpServer::Impl::WriteResponse(beast::tcp_stream& stream, S3Response r,
                                                unsigned version, bool keep_alive,
                                                std::vector<char>& chunk) {
  AddCommonHeaders(r);
  beast::error_code ec;
  const auto status = static_cast<http::status>(r.status);
  if (!r.reader || !r.send_body) {
    http::response<http::string_body> res{status, version};
    for (auto& [k, v] : r.headers) res.insert(k, v);
    res.keep_alive(keep_alive);
    if (r.send_body) {
      res.body() = std::move(r.body);
      res.content_length(res.body().size());
      co_await http::async_write(stream, res, asio::redirect_error(use_awaitable, ec));
    } else {
      res.content_length(r.content_length);
      http::response_serializer<http::string_body> sr{res};
      co_await http::async_write_header(stream, sr, asio::redirect_error(use_awaitable, ec));
    }
    co_return !ec;
  }
  http::response<http::empty_body> res{status, version};
  for (auto& [k, v] : r.headers) res.insert(k, v);
  res.keep_alive(keep_alive);
  res.content_length(r.content_length);
  http::response_serializer<http::empty_body> sr{res};
  co_await http::async_write_header(stream, sr, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return false;
  uint64_t off = r.offset;
  uint64_t left = r.content_length;
  if (const int fd = r.reader->FileDescriptor(); fd >= 0) {
    // File-backed object: sendfile(2) from the page cache, as nginx does.
    auto& sock = stream.socket();
    sock.native_non_blocking(true, ec);
    while (!ec && left > 0) {
      off_t pos = static_cast<off_t>(off);
      const ssize_t n = ::sendfile(sock.native_handle(), fd, &pos,
                                   static_cast<size_t>(std::min<uint64_t>(left, 1ull << 30)));
      if (n > 0) {
        off += static_cast<uint64_t>(n);
        left -= static_cast<uint64_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        stream.expires_after(ToChrono(options.idle_timeout));
        co_await sock.async_wait(tcp::socket::wait_write, asio::redirect_error(use_awaitable, ec));
      } else {
        co_return false;  // peer gone, or the file shrank: close the connection
      }
    }
    co_return !ec;
  }
  if (auto view = r.reader->Contiguous()) {
    // In-memory object: send straight from the stored bytes (the reader keeps them alive).
    co_await asio::async_write(stream, asio::buffer(view->data() + off, left),
                               asio::redirect_error(use_awaitable, ec));
    co_return !ec;
  }
  while (left > 0) {
    auto n = r.reader->Read(off, chunk.data(), std::min<uint64_t>(chunk.size(), left));
    if (!n.ok() || *n == 0) {
      spdlog::error("read failed mid-response; closing: {}",
                    n.ok() ? std::string("short object") : n.status().ToString());
      co_return false;  // the client sees a short body and a closed connection
    }
    co_await asio::async_write(stream, asio::buffer(chunk.data(), *n),
                               asio::redirect_error(use_awaitable, ec));
    if (ec) co_return false;
    off += *n;
    left -= *n;
  }
  co_return true;
}

awaitable<void> HttpServer::Impl::Session(tcp::socket socket) {
  auto self = shared_from_this();
  beast::tcp_stream stream(std::move(socket));
  stream.socket().set_option(tcp::no_delay(true));
  streams.push_front(&stream);
  auto registered = streams.begin();
  beast::flat_buffer buffer;
  // Beast reads at most min(64 KiB, free capacity) per recvmsg, and an empty buffer has
  // 512 bytes of it: without this an 8 MiB PUT body took ~16k syscalls.
  buffer.reserve(64u << 10);
  std::vector<char> chunk(options.io_chunk_bytes);
  for (;;) {
    beast::error_code ec;
    http::request_parser<http::buffer_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    stream.expires_after(ToChrono(options.idle_timeout));
    co_await http::async_read_header(stream, buffer, parser,
                                     asio::redirect_error(use_awaitable, ec));
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::operation_aborted || ec == beast::error::timeout ||
        ec == asio::error::connection_reset) {
      break;
    }
    if (ec) {
      // Malformed or oversized head: answer 400 and close, the server carries on.
      const bool too_big = ec == http::error::header_limit;
      S3Response r = ProtocolError(service,
                                   too_big ? S3Err::kRequestHeaderSectionTooLarge
                                           : S3Err::kInvalidRequest,
                                   too_big ? "" : "malformed HTTP request: " + ec.message());
      co_await WriteResponse(stream, std::move(r), 11, false, chunk);
      break;
    }
    auto& msg = parser.get();
    HttpRequest req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    for (const auto& field : msg) {
      const auto name = field.name_string();
      req.headers.emplace_back(ToLower(std::string_view(name.data(), name.size())),
                               std::string(field.value()));
    }
    const bool expect_continue = [&] {
      const std::string* e = req.Header("expect");
      return e != nullptr && ToLower(*e) == "100-continue";
    }();
    const bool has_body = !parser.is_done();
    const bool keep_alive_requested = msg.keep_alive();
    const unsigned version = msg.version();

    // Declared before the exchange so they outlive it: destroying the exchange (e.g. when
    // the coroutine is torn down mid-transfer) guarantees its callback never runs.
    std::optional<S3Response> async_response;
    asio::steady_timer response_ready(runtime.io(), asio::steady_timer::time_point::max());
    std::unique_ptr<S3Exchange> exchange = service.Start(std::move(req));
    bool close = !keep_alive_requested;
    bool broken = false;
    if (has_body && (exchange->wants_body() || !expect_continue)) {
      if (expect_continue) {
        static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await asio::async_write(stream, asio::buffer(kContinue, sizeof(kContinue) - 1),
                                   asio::redirect_error(use_awaitable, ec));
        if (ec) break;
      }
      const bool feed = exchange->wants_body();
      uint64_t discarded = 0;
      while (!parser.is_done()) {
        msg.body().data = chunk.data();
        msg.body().size = chunk.size();
        stream.expires_after(ToChrono(options.idle_timeout));
        co_await http::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
        if (ec == http::error::need_buffer) ec = {};
        if (ec) {
          broken = true;
          break;
        }
        const size_t got = chunk.size() - msg.body().size;
        if (got == 0) continue;
        if (feed) {
          if (core::Status st = exchange->OnBody(std::string_view(chunk.data(), got)); !st.ok()) {
            close = true;  // stop reading; the rest of the body is not consumed
            break;
          }
        } else if ((discarded += got) > (1u << 20)) {
          close = true;
          break;
        }
      }
      if (broken) break;  // the client went away mid-body: drop the exchange (and its data)
    } else if (has_body) {
      close = true;  // refused before the client sent its body
    }
    // FinishAsync: an RDMA transfer may run first. Other connections keep being served
    // while this coroutine waits for the callback (which runs on this thread).
    exchange->FinishAsync([&async_response, &response_ready](S3Response r) {
      async_response = std::move(r);
      response_ready.cancel();
    });
    while (!async_response) {
      co_await response_ready.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    S3Response response = std::move(*async_response);
    exchange.reset();
    close = close || response.close_connection;
    const bool ok = co_await WriteResponse(stream, std::move(response), version, !close, chunk);
    if (!ok || close) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.close();
  streams.erase(registered);
}

awaitable<void> HttpServer::Impl::AcceptLoop() {
  auto self = shared_from_this();
  for (;;) {
    beast::error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (stopped || ec == asio::error::operation_aborted) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      continue;
    }
    if (streams.size() >= options.max_connections) {
      socket.close(ec);
      continue;
    }
    asio::co_spawn(runtime.io(), Session(std::move(socket)), asio::detached);
  }
}

HttpServer::HttpServer(core::RealRuntime& runtime, S3Service& service, HttpServerOptions options)
    : impl_(std::make_shared<Impl>(runtime, service, std::move(options))) {}

HttpServer::~HttpServer() { Stop(); }

core::Status HttpServer::Start() {
  // sendfile(2) has no MSG_NOSIGNAL: a client that closes mid-response would kill the
  // process with SIGPIPE. Servers ignore it process-wide (nginx does too); EPIPE is handled.
  std::signal(SIGPIPE, SIG_IGN);
  beast::error_code ec;
  auto addr = asio::ip::make_address(impl_->options.address, ec);
  if (ec) return core::Status::InvalidArgument("bad listen address '" + impl_->options.address + "'");
  tcp::endpoint ep(addr, impl_->options.port);
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return core::Status::Unavailable("cannot listen on " + impl_->options.address + ":" +
                                     std::to_string(impl_->options.port) + ": " + ec.message());
  }
  impl_->port = impl_->acceptor.local_endpoint().port();
  asio::co_spawn(impl_->runtime.io(), impl_->AcceptLoop(), asio::detached);
  return core::Status::Ok();
}

uint16_t HttpServer::port() const { return impl_->port; }

void HttpServer::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  beast::error_code ec;
  impl_->acceptor.close(ec);
  for (beast::tcp_stream* s : impl_->streams) s->socket().close(ec);
}

size_t HttpServer::open_connections() const { return impl_->streams.size(); }

}  // namespace s3rdma::proto
