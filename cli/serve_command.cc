// `s3rdma serve`: the S3-compatible server over HTTP (proto/http_server.h).
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "cli/command.h"
#include "core/real_runtime.h"
#include "core/units.h"
#include "proto/fs_store.h"
#include "proto/http_server.h"
#include "proto/memory_store.h"
#include "proto/s3_service.h"
#include "proto/sigv4.h"

namespace s3rdma::cli {
namespace {

struct ServeOptions {
  std::string address = "127.0.0.1";
  int port = 9000;
  std::string data_dir;
  bool memory = false;
  std::string credentials_file;
  bool anonymous = false;
  std::vector<std::string> anonymous_read;
  std::string region = "us-east-1";
  std::string min_part_size = "5MiB";
  std::string max_object_size = "5GiB";
  std::vector<std::string> virtual_hosts;
};

int RunServe(const ServeOptions& o) {
  if (o.memory == !o.data_dir.empty()) {
    return Fail("serve: give exactly one of --data-dir DIR or --memory", 2);
  }
  if (o.port < 0 || o.port > 65535) return Fail("serve: --port must be 0..65535", 2);
  auto min_part = core::ParseBytes(o.min_part_size);
  if (!min_part.ok() || min_part->count() < 1) {
    return Fail("serve: bad --min-part-size '" + o.min_part_size + "'", 2);
  }
  auto max_object = core::ParseBytes(o.max_object_size);
  if (!max_object.ok() || max_object->count() < 1) {
    return Fail("serve: bad --max-object-size '" + o.max_object_size + "'", 2);
  }
  auto creds = proto::CredentialStore::FromEnvironment();
  if (!creds.ok()) return Fail("serve: " + creds.status().message(), 2);
  if (!o.credentials_file.empty()) {
    std::ifstream in(o.credentials_file);
    if (!in) return Fail("serve: cannot read --credentials " + o.credentials_file, 2);
    std::stringstream ss;
    ss << in.rdbuf();
    auto parsed = proto::CredentialStore::Parse(ss.str());
    if (!parsed.ok()) return Fail(o.credentials_file + ": " + parsed.status().message(), 2);
    creds->AddAll(*parsed);  // on top of the environment's
  }
  if (creds->size() == 0 && !o.anonymous) {
    return Fail("serve: no credentials: set S3RDMA_CREDENTIALS=AK:SK[,AK2:SK2] or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, give --credentials FILE, or allow "
                "--anonymous access", 2);
  }

  const uint64_t seed = std::random_device{}();
  std::unique_ptr<proto::ObjectStore> store;
  if (o.memory) {
    store = std::make_unique<proto::MemoryStore>(seed);
  } else {
    auto fs = proto::FsStore::Open(o.data_dir, seed);
    if (!fs.ok()) return Fail("serve: " + fs.status().message());
    store = std::move(*fs);
  }
  core::RealRuntime runtime;
  proto::ServiceConfig config;
  config.region = o.region;
  config.auth.allow_anonymous = o.anonymous;
  config.anonymous_read_buckets.insert(o.anonymous_read.begin(), o.anonymous_read.end());
  config.min_part_bytes = static_cast<uint64_t>(min_part->count());
  config.max_object_bytes = static_cast<uint64_t>(max_object->count());
  config.max_part_bytes = std::min<uint64_t>(config.max_part_bytes, config.max_object_bytes);
  if (!o.virtual_hosts.empty()) config.virtual_host_suffixes = o.virtual_hosts;
  // The edge of the program reads the wall clock once; the service then counts runtime time.
  config.unix_time_at_runtime_zero =
      static_cast<int64_t>(std::time(nullptr)) - runtime.Now().ps() / 1'000'000'000'000;
  proto::S3Service service(config, *store, std::move(*creds), runtime);
  proto::HttpServerOptions http;
  http.address = o.address;
  http.port = static_cast<uint16_t>(o.port);
  proto::HttpServer server(runtime, service, http);
  if (auto st = server.Start(); !st.ok()) return Fail("serve: " + st.message());
  std::printf("listening on %s:%u\n", o.address.c_str(), static_cast<unsigned>(server.port()));
  std::fflush(stdout);

  boost::asio::signal_set signals(runtime.io(), SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    server.Stop();
    runtime.Stop();
  });
  runtime.Run();
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app, CommandRunner& run) {
  auto opts = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Run the S3-compatible server over HTTP. Credentials come from S3RDMA_CREDENTIALS "
      "(AK:SK,AK2:SK2), AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and --credentials FILE.");
  cmd->add_option("--address", opts->address, "Address to bind (default 127.0.0.1)");
  cmd->add_option("--port", opts->port,
                  "TCP port (default 9000; 0 picks a free one). The first line printed is "
                  "'listening on ADDRESS:PORT'");
  cmd->add_option("--data-dir", opts->data_dir, "Durable filesystem store in this directory");
  cmd->add_flag("--memory", opts->memory, "In-memory store (lost on exit)");
  cmd->add_option("--credentials", opts->credentials_file,
                  "File with one ACCESS_KEY:SECRET_KEY per line");
  cmd->add_flag("--anonymous", opts->anonymous, "Allow unsigned requests to everything");
  cmd->add_option("--anonymous-read", opts->anonymous_read,
                  "Allow unsigned GET/HEAD/list on this bucket (repeatable)");
  cmd->add_option("--region", opts->region, "Region reported to clients (default us-east-1)");
  cmd->add_option("--min-part-size", opts->min_part_size,
                  "Smallest multipart part but the last (default 5MiB)");
  cmd->add_option("--max-object-size", opts->max_object_size,
                  "Largest single PUT or part (default 5GiB)");
  cmd->add_option("--virtual-host", opts->virtual_hosts,
                  "Host suffix for virtual-host addressing, BUCKET.SUFFIX (default: localhost, "
                  "s3.localhost; repeatable)");
  cmd->callback([&run, opts] { run = [opts] { return RunServe(*opts); }; });
}

}  // namespace s3rdma::cli
