// HttpServer: the S3 service over HTTP/1.1 on TCP, with Boost.Beast (included only by
// http_server.cc). Keep-alive, Expect: 100-continue, streamed request and response bodies,
// bounded header size, idle timeouts. Runs on a RealRuntime's io_context, on its thread.
#ifndef S3RDMA_PROTO_HTTP_SERVER_H_
#define S3RDMA_PROTO_HTTP_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "core/real_runtime.h"
#include "core/status.h"
#include "core/time.h"
#include "proto/s3_service.h"

namespace s3rdma::proto {

struct HttpServerOptions {
  std::string address = "127.0.0.1";  // loopback unless the user asks otherwise
  uint16_t port = 0;                   // 0: the OS picks a free port (see port())
  size_t max_header_bytes = 16 * 1024;  // RequestHeaderSectionTooLarge beyond
  size_t max_connections = 4096;
  core::Duration idle_timeout = core::Duration::Seconds(120);
  size_t io_chunk_bytes = 1 << 20;  // body read/write granularity
};

class HttpServer {
 public:
  // `runtime` and `service` must outlive the server.
  HttpServer(core::RealRuntime& runtime, S3Service& service, HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts accepting (work happens when the runtime runs). Sets SIGPIPE to
  // ignored for the whole process (responses are sent with sendfile(2)).
  core::Status Start();
  // The bound port (after Start).
  uint16_t port() const;
  // Stops accepting and closes every connection.
  void Stop();
  size_t open_connections() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_HTTP_SERVER_H_
