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
#include "emu/udp_fabric.h"
#include "emu/verbs.h"
#include "proto/fs_store.h"
#include "proto/http_server.h"
#include "proto/memory_store.h"
#include "proto/rdma_server.h"
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
  std::string rdma;  // "", "udp" or "udp:ADDR[:PORT]"
  std::string rdma_staging = "256MiB";
  int rdma_max_connections = 1024;
};

// The RDMA side of the server: a UDP fabric (RoCEv2 datagrams), one software NIC and the
// RdmaServer, all on the server's RealRuntime thread.
struct RdmaSide {
  std::unique_ptr<emu::UdpFabric> fabric;
  std::unique_ptr<emu::Device> device;
  std::unique_ptr<proto::RdmaServer> server;
  ~RdmaSide() {
    server.reset();  // before the device it uses
    device.reset();
  }
};

// "udp" -> 127.0.0.1, port 4791 when free (tshark dissects RoCE there), else a free port;
// "udp:A.B.C.D" the same on that address; "udp:A.B.C.D:PORT" exactly that port.
core::Status OpenRdma(const ServeOptions& o, core::RealRuntime& runtime, uint64_t seed,
                      RdmaSide& side) {
  std::string_view spec = o.rdma;
  if (spec != "udp" && spec.rfind("udp:", 0) != 0) {
    return core::Status::InvalidArgument("--rdma must be udp or udp:ADDR[:PORT] (got '" + o.rdma + "')");
  }
  std::string_view addr_text = spec.size() > 4 ? spec.substr(4) : std::string_view("127.0.0.1");
  const bool explicit_port = addr_text.find(':') != std::string_view::npos;
  auto addr = emu::ParseNodeAddress(addr_text);
  if (!addr.ok()) return core::Status::InvalidArgument("--rdma: " + addr.status().message());
  auto staging = core::ParseBytes(o.rdma_staging);
  if (!staging.ok() || staging->count() < 1) {
    return core::Status::InvalidArgument("bad --rdma-staging '" + o.rdma_staging + "'");
  }
  if (o.rdma_max_connections < 1) {
    return core::Status::InvalidArgument("--rdma-max-connections must be >= 1");
  }
  side.fabric = std::make_unique<emu::UdpFabric>(runtime);
  const emu::DeviceOptions dev_opts{.max_unacked_psns = 512, .packets_per_ack_req = 64};
  auto dev = emu::Device::Open(*side.fabric, *addr, dev_opts);
  if (!dev.ok() && !explicit_port) {
    addr->udp_port = 0;  // 4791 is taken (another server, or a client on this host)
    dev = emu::Device::Open(*side.fabric, *addr, dev_opts);
  }
  if (!dev.ok()) return core::Status::Unavailable("--rdma: " + dev.status().message());
  side.device = std::move(*dev);
  proto::RdmaServerOptions ro;
  ro.staging_bytes = static_cast<uint64_t>(staging->count());
  ro.max_connections = static_cast<size_t>(o.rdma_max_connections);
  ro.psn_seed = seed;
  if (ro.staging_bytes < ro.chunk_bytes) ro.chunk_bytes = std::max<uint64_t>(4096, ro.staging_bytes);
  auto server = proto::RdmaServer::Create(*side.device, ro);
  if (!server.ok()) return core::Status::InvalidArgument("--rdma: " + server.status().message());
  side.server = std::move(*server);
  return core::Status::Ok();
}

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
  RdmaSide rdma;
  if (!o.rdma.empty()) {
    if (auto st = OpenRdma(o, runtime, seed, rdma); !st.ok()) {
      return Fail("serve: " + st.message(), st.code() == core::StatusCode::kInvalidArgument ? 2 : 1);
    }
    service.SetRdmaServer(rdma.server.get());
  }
  proto::HttpServerOptions http;
  http.address = o.address;
  http.port = static_cast<uint16_t>(o.port);
  proto::HttpServer server(runtime, service, http);
  if (auto st = server.Start(); !st.ok()) return Fail("serve: " + st.message());
  std::printf("listening on %s:%u\n", o.address.c_str(), static_cast<unsigned>(server.port()));
  if (rdma.device) {
    std::printf("rdma listening on udp %s (RoCEv2, RC)\n",
                rdma.device->address().ToString().c_str());
  }
  std::fflush(stdout);

  boost::asio::signal_set signals(runtime.io(), SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    server.Stop();
    runtime.Stop();
  });
  runtime.Run();
  service.SetRdmaServer(nullptr);
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
  cmd->add_option("--rdma", opts->rdma,
                  "Also serve the S3-over-RDMA data path (docs/protocol.md) on a software RDMA "
                  "NIC: udp (127.0.0.1, UDP port 4791 when free, else a free port), udp:ADDR or "
                  "udp:ADDR:PORT. The second line printed is 'rdma listening on udp ADDR:PORT'");
  cmd->add_option("--rdma-staging", opts->rdma_staging,
                  "Registered staging memory for RDMA transfers that cannot go zero copy "
                  "(default 256MiB; requests wait for it instead of growing memory)");
  cmd->add_option("--rdma-max-connections", opts->rdma_max_connections,
                  "Most RDMA queue-pair connections at once (default 1024; beyond: 503 SlowDown)");
  cmd->callback([&run, opts] { run = [opts] { return RunServe(*opts); }; });
}

}  // namespace s3rdma::cli
