// The S3 commands: `s3rdma serve` (serve_command.cc) and the client commands
// mb, rb, ls, put, get, rm (like `aws s3 ...`). Credentials come from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY; the server from --endpoint or S3RDMA_ENDPOINT.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "core/real_runtime.h"
#include "emu/pcap.h"
#include "emu/udp_fabric.h"
#include "emu/verbs.h"
#include "proto/http_util.h"
#include "proto/rdma_client.h"
#include "proto/s3_client.h"

namespace s3rdma::cli {

void AddServeCommand(CLI::App& app, CommandRunner& run);

namespace {

struct ClientFlags {
  std::string endpoint;
  std::string region = "us-east-1";
  bool no_sign = false;
  // get/put only: move the bytes by RDMA (docs/protocol.md).
  std::string rdma;  // "" (plain HTTP), "udp" or "udp:ADDR[:PORT]"
  bool rdma_fallback = false;
  std::string pcap;  // RoCEv2 capture of this client's RDMA traffic
};

struct S3Uri {
  std::string bucket;
  std::string key;
};

core::Result<S3Uri> ParseUri(std::string_view s) {
  constexpr std::string_view kScheme = "s3://";
  if (s.substr(0, kScheme.size()) != kScheme) {
    return core::Status::InvalidArgument("expected s3://BUCKET[/KEY], got '" + std::string(s) + "'");
  }
  s.remove_prefix(kScheme.size());
  const size_t slash = s.find('/');
  S3Uri u{std::string(s.substr(0, slash)), ""};
  if (slash != std::string_view::npos) u.key = std::string(s.substr(slash + 1));
  if (u.bucket.empty()) return core::Status::InvalidArgument("missing bucket in s3:// URI");
  return u;
}

class Session {
 public:
  static core::Result<std::unique_ptr<Session>> Open(const ClientFlags& f) {
    proto::ClientOptions o;
    std::string endpoint = f.endpoint;
    if (endpoint.empty()) {
      const char* env = std::getenv("S3RDMA_ENDPOINT");
      endpoint = env != nullptr ? env : "http://127.0.0.1:9000";
    }
    S3_RETURN_IF_ERROR(proto::ParseEndpoint(endpoint, o));
    o.region = f.region;
    o.anonymous = f.no_sign;
    if (!f.no_sign) {
      const char* ak = std::getenv("AWS_ACCESS_KEY_ID");
      const char* sk = std::getenv("AWS_SECRET_ACCESS_KEY");
      if (ak == nullptr || sk == nullptr || *ak == '\0' || *sk == '\0') {
        return core::Status::InvalidArgument(
            "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use "
            "--no-sign-request");
      }
      o.credential = {ak, sk};
    }
    auto s = std::unique_ptr<Session>(new Session());
    o.unix_time_at_runtime_zero =
        static_cast<int64_t>(std::time(nullptr)) - s->runtime.Now().ps() / 1'000'000'000'000;
    s->client = std::make_unique<proto::S3Client>(s->runtime, o);
    return s;
  }
  core::Result<proto::ClientResponse> Send(proto::ClientRequest r) {
    return proto::SendAndWait(runtime, *client, std::move(r));
  }

  // Sets up the RDMA side: a UDP fabric (optionally captured to a pcap), a device on the
  // client's address (see proto::ClientRdmaAddress) and an RdmaClient over this session's
  // HTTP connection.
  core::Status OpenRdma(const ClientFlags& f, const std::string& host) {
    S3_ASSIGN_OR_RETURN(emu::NodeAddress addr, proto::ClientRdmaAddress(f.rdma, host, ::getpid()));
    udp = std::make_unique<emu::UdpFabric>(runtime);
    emu::Fabric* fabric = udp.get();
    if (!f.pcap.empty()) {
      S3_ASSIGN_OR_RETURN(auto writer, emu::PcapWriter::Open(f.pcap));
      capture = std::make_unique<emu::PcapCapture>(*udp, std::move(writer));
      fabric = capture.get();
    }
    auto dev = emu::Device::Open(*fabric, addr);
    if (!dev.ok()) {
      return core::Status::Unavailable("cannot open the RDMA device on " + addr.ToString() +
                                       ": " + dev.status().message());
    }
    device = std::move(dev).value();
    proto::RdmaClientOptions ro;
    ro.fallback_to_http = f.rdma_fallback;
    ro.seed = static_cast<uint64_t>(::getpid()) << 20 ^ static_cast<uint64_t>(std::time(nullptr));
    S3_ASSIGN_OR_RETURN(rdma, proto::RdmaClient::Create(*device, {client.get()}, ro));
    return core::Status::Ok();
  }
  // Runs the runtime until `slot` is filled by a callback.
  template <typename T>
  T Wait(std::optional<T>& slot) {
    while (!slot) runtime.Run();
    return std::move(*slot);
  }
  void Stop() { runtime.Stop(); }
  // Disconnects the RDMA connections (best effort) and closes the capture.
  void CloseRdma() {
    if (!rdma) return;
    std::optional<bool> closed;
    rdma->Close([&] {
      closed = true;
      runtime.Stop();
    });
    Wait(closed);
  }
  ~Session() {
    buffers.clear();
    rdma.reset();
    device.reset();
    capture.reset();
    udp.reset();
  }

  std::unique_ptr<proto::RdmaClient> rdma;
  std::vector<proto::RdmaBuffer> buffers;

 private:
  Session() = default;
  core::RealRuntime runtime;
  std::unique_ptr<proto::S3Client> client;
  std::unique_ptr<emu::UdpFabric> udp;
  std::unique_ptr<emu::PcapCapture> capture;
  std::unique_ptr<emu::Device> device;
};

std::string HostOf(const ClientFlags& f) {
  proto::ClientOptions o;
  std::string endpoint = f.endpoint;
  if (endpoint.empty()) {
    const char* env = std::getenv("S3RDMA_ENDPOINT");
    endpoint = env != nullptr ? env : "http://127.0.0.1:9000";
  }
  return proto::ParseEndpoint(endpoint, o).ok() ? o.host : std::string();
}

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string HowMoved(const proto::RdmaResult& r, uint64_t bytes, double seconds) {
  if (bytes == 0) return "empty object, nothing to move";
  char line[160];
  std::snprintf(line, sizeof line, "%.2f MiB %s in %.3f s (%.3f GB/s)",
                static_cast<double>(bytes) / (1 << 20), r.via_rdma ? "via RDMA" : "via HTTP (fallback)",
                seconds, seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0.0);
  return line;
}

// Tiny tag extraction for the few listing fields the commands print.
std::vector<std::string> Tags(const std::string& xml, const std::string& name) {
  std::vector<std::string> out;
  const std::string open = "<" + name + ">", close = "</" + name + ">";
  size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string::npos) {
    const size_t end = xml.find(close, pos);
    if (end == std::string::npos) break;
    out.push_back(xml.substr(pos + open.size(), end - pos - open.size()));
    pos = end + close.size();
  }
  return out;
}

std::string Unescape(std::string s) {
  const std::pair<const char*, const char*> kEntities[] = {
      {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}};
  for (const auto& [from, to] : kEntities) {
    size_t p = 0;
    while ((p = s.find(from, p)) != std::string::npos) {
      s.replace(p, std::strlen(from), to);
      p += std::strlen(to);
    }
  }
  return s;
}

int Report(const core::Status& st, const std::string& what) {
  return Fail(what + ": " + st.message());
}

int RunBucketOp(const ClientFlags& f, const std::string& uri, const std::string& method,
                const char* verb) {
  auto u = ParseUri(uri);
  if (!u.ok()) return Fail(u.status().message(), 2);
  auto s = Session::Open(f);
  if (!s.ok()) return Fail(s.status().message(), 2);
  proto::ClientRequest r;
  r.method = method;
  r.bucket = u->bucket;
  auto resp = (*s)->Send(std::move(r));
  if (!resp.ok()) return Report(resp.status(), std::string(verb) + " " + uri);
  std::printf("%s: %s\n", verb, u->bucket.c_str());
  return 0;
}

int RunLs(const ClientFlags& f, const std::string& uri, bool recursive) {
  auto s = Session::Open(f);
  if (!s.ok()) return Fail(s.status().message(), 2);
  if (uri.empty()) {
    proto::ClientRequest r;
    auto resp = (*s)->Send(std::move(r));
    if (!resp.ok()) return Report(resp.status(), "ls");
    const auto names = Tags(resp->body, "Name");
    const auto dates = Tags(resp->body, "CreationDate");
    for (size_t i = 0; i < names.size(); ++i) {
      std::printf("%s  %s\n", i < dates.size() ? dates[i].c_str() : "", Unescape(names[i]).c_str());
    }
    return 0;
  }
  auto u = ParseUri(uri);
  if (!u.ok()) return Fail(u.status().message(), 2);
  std::string token;
  for (;;) {
    proto::ClientRequest r;
    r.bucket = u->bucket;
    r.query = {{"list-type", "2"}, {"prefix", u->key}};
    if (!recursive) r.query.emplace_back("delimiter", "/");
    if (!token.empty()) r.query.emplace_back("continuation-token", token);
    auto resp = (*s)->Send(std::move(r));
    if (!resp.ok()) return Report(resp.status(), "ls " + uri);
    const std::string& xml = resp->body;
    for (const auto& p : Tags(xml, "CommonPrefixes")) {
      for (const auto& name : Tags(p, "Prefix")) std::printf("%30s %s\n", "PRE", Unescape(name).c_str());
    }
    for (const auto& c : Tags(xml, "Contents")) {
      const auto key = Tags(c, "Key"), size = Tags(c, "Size"), date = Tags(c, "LastModified");
      std::printf("%s %12s %s\n", date.empty() ? "" : date[0].c_str(),
                  size.empty() ? "" : size[0].c_str(), key.empty() ? "" : Unescape(key[0]).c_str());
    }
    const auto next = Tags(xml, "NextContinuationToken");
    if (next.empty()) break;
    token = Unescape(next[0]);
  }
  return 0;
}

// --rdma-fallback and --pcap only mean something with --rdma.
int CheckRdmaFlags(const ClientFlags& f, const char* verb) {
  if (f.rdma.empty() && (f.rdma_fallback || !f.pcap.empty())) {
    return Fail(std::string(verb) + ": --rdma-fallback and --pcap need --rdma", 2);
  }
  return 0;
}

int RunPut(const ClientFlags& f, const std::string& file, const std::string& uri,
           const std::string& content_type) {
  if (int rc = CheckRdmaFlags(f, "put")) return rc;
  auto u = ParseUri(uri);
  if (!u.ok()) return Fail(u.status().message(), 2);
  if (u->key.empty() || u->key.back() == '/') {
    u->key += file.substr(file.find_last_of('/') == std::string::npos ? 0
                                                                      : file.find_last_of('/') + 1);
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return Fail("put: cannot read " + file);
  std::stringstream ss;
  ss << in.rdbuf();
  auto s = Session::Open(f);
  if (!s.ok()) return Fail(s.status().message(), 2);
  // An empty object has no bytes to move: it goes as a plain PUT.
  if (!f.rdma.empty() && ss.str().empty()) std::printf("put: empty file, sent over HTTP\n");
  if (!f.rdma.empty() && !ss.str().empty()) {
    if (auto st = (*s)->OpenRdma(f, HostOf(f)); !st.ok()) return Fail("put: " + st.message(), 2);
    std::string data = ss.str();
    const uint64_t size = data.size();
    auto buf = (*s)->rdma->RegisterBuffer(data.data(), data.size());
    if (!buf.ok()) return Fail("put: " + buf.status().message());
    proto::HeaderList headers;
    if (!content_type.empty()) headers.emplace_back("content-type", content_type);
    std::optional<core::Result<proto::RdmaResult>> out;
    const auto t0 = std::chrono::steady_clock::now();
    (*s)->rdma->Put(u->bucket, u->key, *buf, 0, size, headers, [&](core::Result<proto::RdmaResult> r) {
      out = std::move(r);
      (*s)->Stop();
    });
    auto res = (*s)->Wait(out);
    const double secs = SecondsSince(t0);
    (*s)->CloseRdma();
    if (!res.ok()) return Report(res.status(), "put " + uri);
    std::printf("upload: %s to s3://%s/%s (%llu bytes, ETag %s): %s\n", file.c_str(),
                u->bucket.c_str(), u->key.c_str(), static_cast<unsigned long long>(size),
                res->etag.c_str(), HowMoved(*res, size, secs).c_str());
    return 0;
  }
  proto::ClientRequest r;
  r.method = "PUT";
  r.bucket = u->bucket;
  r.key = u->key;
  r.body = ss.str();
  if (!content_type.empty()) r.headers.emplace_back("content-type", content_type);
  const size_t size = r.body.size();
  auto resp = (*s)->Send(std::move(r));
  if (!resp.ok()) return Report(resp.status(), "put " + uri);
  const std::string* etag = resp->Header("etag");
  std::printf("upload: %s to s3://%s/%s (%zu bytes, ETag %s)\n", file.c_str(), u->bucket.c_str(),
              u->key.c_str(), size, etag ? etag->c_str() : "?");
  return 0;
}

// GET by RDMA: HEAD for the size, one registered buffer that size, GET into it, write it out.
// If the object grew in between (RDMABufferTooSmall) the HEAD and GET are repeated once.
// Where `get` writes. A regular file is written beside the target and renamed over it only
// when complete (an interrupted download never leaves a truncated file); "-" is stdout; an
// existing non-regular file (/dev/null, a FIFO, a terminal) is written in place, since
// renaming over it would replace the device node with a regular file.
class Download {
 public:
  explicit Download(std::string file) : file_(std::move(file)) {}
  ~Download() {
    if (out_ != nullptr && out_ != stdout) std::fclose(out_);
    if (!tmp_.empty()) std::remove(tmp_.c_str());
  }
  bool to_stdout() const { return file_ == "-"; }
  // Opens the output; false (with `error`) if it cannot be written.
  bool Open(std::string* error) {
    if (to_stdout()) {
      out_ = stdout;
      return true;
    }
    struct stat st;
    const bool in_place = ::stat(file_.c_str(), &st) == 0 && !S_ISREG(st.st_mode);
    if (!in_place) tmp_ = file_ + ".s3rdma-partial";
    const std::string& path = in_place ? file_ : tmp_;
    out_ = std::fopen(path.c_str(), "wb");
    if (out_ == nullptr) {
      tmp_.clear();
      *error = "get: cannot write " + path;
      return false;
    }
    return true;
  }
  bool Write(const void* data, size_t n) { return n == 0 || std::fwrite(data, 1, n, out_) == n; }
  // Flushes and, for a regular file, renames it into place. False if any step failed.
  bool Commit() {
    if (out_ == stdout) {
      out_ = nullptr;
      return std::fflush(stdout) == 0;
    }
    const bool closed = std::fclose(out_) == 0;
    out_ = nullptr;
    if (!closed) return false;
    if (tmp_.empty()) return true;
    const bool renamed = std::rename(tmp_.c_str(), file_.c_str()) == 0;
    if (renamed) tmp_.clear();
    return renamed;
  }

 private:
  std::string file_;
  std::string tmp_;  // non-empty while a partial file exists
  std::FILE* out_ = nullptr;
};

int RunRdmaGet(const ClientFlags& f, Session& s, const S3Uri& u, const std::string& uri,
               const std::string& file) {
  if (auto st = s.OpenRdma(f, HostOf(f)); !st.ok()) return Fail("get: " + st.message(), 2);
  core::Result<proto::RdmaResult> res = core::Status::Internal("not run");
  std::vector<char> memory;
  double secs = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    proto::ClientRequest head;
    head.method = "HEAD";
    head.bucket = u.bucket;
    head.key = u.key;
    auto h = s.Send(std::move(head));
    if (!h.ok()) return Report(h.status(), "get " + uri);
    const std::string* cl = h->Header("content-length");
    auto size = cl != nullptr ? proto::ParseDecimal(*cl) : std::nullopt;
    if (!size) return Fail("get " + uri + ": HEAD gave no Content-Length");
    if (*size == 0) {
      res = proto::RdmaResult{200, 0, h->Header("etag") ? *h->Header("etag") : "", false, {}};
      break;  // nothing to move
    }
    memory.assign(std::max<uint64_t>(*size, 1), '\0');
    s.buffers.clear();
    auto buf = s.rdma->RegisterBuffer(memory.data(), memory.size());
    if (!buf.ok()) return Fail("get: " + buf.status().message());
    s.buffers.push_back(std::move(*buf));
    std::optional<core::Result<proto::RdmaResult>> out;
    const auto t0 = std::chrono::steady_clock::now();
    s.rdma->Get(u.bucket, u.key, std::nullopt, s.buffers.back(), 0,
                [&](core::Result<proto::RdmaResult> r) {
                  out = std::move(r);
                  s.Stop();
                });
    res = s.Wait(out);
    secs = SecondsSince(t0);
    if (res.ok() || res.status().message().find("RDMABufferTooSmall") == std::string::npos) break;
  }
  s.CloseRdma();
  if (!res.ok()) return Report(res.status(), "get " + uri);
  const uint64_t bytes = res->bytes;
  Download dl(file);
  std::string error;
  if (!dl.Open(&error)) return Fail(error);
  // (An empty object has no buffer: Write skips fwrite for 0 bytes.)
  const bool wrote = dl.Write(memory.data(), bytes);
  if (!wrote || !dl.Commit()) return Fail("get: cannot write " + file);
  if (dl.to_stdout()) {
    std::fprintf(stderr, "download: %s: %s\n", uri.c_str(), HowMoved(*res, bytes, secs).c_str());
    return 0;
  }
  std::printf("download: %s to %s (%llu bytes, ETag %s): %s\n", uri.c_str(), file.c_str(),
              static_cast<unsigned long long>(bytes), res->etag.c_str(),
              HowMoved(*res, bytes, secs).c_str());
  return 0;
}

int RunGet(const ClientFlags& f, const std::string& uri, const std::string& file) {
  if (int rc = CheckRdmaFlags(f, "get")) return rc;
  auto u = ParseUri(uri);
  if (!u.ok() || u->key.empty()) return Fail("get: expected s3://BUCKET/KEY", 2);
  auto s = Session::Open(f);
  if (!s.ok()) return Fail(s.status().message(), 2);
  if (!f.rdma.empty()) return RunRdmaGet(f, **s, *u, uri, file);
  Download dl(file);
  std::string error;
  if (!dl.Open(&error)) return Fail(error);
  proto::ClientRequest r;
  r.bucket = u->bucket;
  r.key = u->key;
  uint64_t bytes = 0;
  r.body_sink = [&](std::string_view d) {
    bytes += d.size();
    if (!dl.Write(d.data(), d.size())) return core::Status::IOError("write failed");
    return core::Status::Ok();
  };
  auto resp = (*s)->Send(std::move(r));
  if (!resp.ok()) return Report(resp.status(), "get " + uri);  // ~Download removes the partial file
  if (!dl.Commit()) return Fail("get: cannot write " + file);
  if (!dl.to_stdout()) {
    std::printf("download: %s to %s (%llu bytes)\n", uri.c_str(), file.c_str(),
                static_cast<unsigned long long>(bytes));
  }
  return 0;
}

int RunRm(const ClientFlags& f, const std::string& uri) {
  auto u = ParseUri(uri);
  if (!u.ok() || u->key.empty()) return Fail("rm: expected s3://BUCKET/KEY", 2);
  auto s = Session::Open(f);
  if (!s.ok()) return Fail(s.status().message(), 2);
  proto::ClientRequest r;
  r.method = "DELETE";
  r.bucket = u->bucket;
  r.key = u->key;
  auto resp = (*s)->Send(std::move(r));
  if (!resp.ok()) return Report(resp.status(), "rm " + uri);
  std::printf("delete: %s\n", uri.c_str());
  return 0;
}

void AddClientFlags(CLI::App* cmd, ClientFlags& f) {
  cmd->add_option("--endpoint", f.endpoint,
                  "Server, http://HOST:PORT (default $S3RDMA_ENDPOINT or http://127.0.0.1:9000)");
  cmd->add_option("--region", f.region, "Region to sign for (default us-east-1)");
  cmd->add_flag("--no-sign-request", f.no_sign, "Send anonymous requests");
}

void AddRdmaFlags(CLI::App* cmd, ClientFlags& f) {
  cmd->add_option("--rdma", f.rdma,
                  "Move the bytes by RDMA over the software NIC: udp (a per-process 127.x.y.z "
                  "address when the server is on loopback) or udp:ADDR[:PORT]");
  cmd->add_flag("--rdma-fallback", f.rdma_fallback,
                "If the server declines RDMA (501), move the bytes over plain HTTP instead");
  cmd->add_option("--pcap", f.pcap, "Write this client's RoCEv2 packets to a pcap file (with --rdma)");
}

}  // namespace

void AddS3Commands(CLI::App& app, CommandRunner& run) {
  AddServeCommand(app, run);
  auto flags = std::make_shared<ClientFlags>();
  auto a = std::make_shared<std::string>();
  auto b = std::make_shared<std::string>();
  auto recursive = std::make_shared<bool>(false);
  auto content_type = std::make_shared<std::string>();

  CLI::App* mb = app.add_subcommand("mb", "Make a bucket: s3rdma mb s3://BUCKET");
  mb->add_option("uri", *a, "s3://BUCKET")->required();
  AddClientFlags(mb, *flags);
  mb->callback([&run, flags, a] { run = [=] { return RunBucketOp(*flags, *a, "PUT", "make_bucket"); }; });

  CLI::App* rb = app.add_subcommand("rb", "Remove an empty bucket: s3rdma rb s3://BUCKET");
  rb->add_option("uri", *a, "s3://BUCKET")->required();
  AddClientFlags(rb, *flags);
  rb->callback([&run, flags, a] { run = [=] { return RunBucketOp(*flags, *a, "DELETE", "remove_bucket"); }; });

  CLI::App* ls = app.add_subcommand("ls", "List buckets, or objects: s3rdma ls [s3://BUCKET[/PREFIX]]");
  ls->add_option("uri", *a, "s3://BUCKET[/PREFIX]");
  ls->add_flag("--recursive", *recursive, "List every key, not one level");
  AddClientFlags(ls, *flags);
  ls->callback([&run, flags, a, recursive] { run = [=] { return RunLs(*flags, *a, *recursive); }; });

  CLI::App* put = app.add_subcommand("put", "Upload a file: s3rdma put FILE s3://BUCKET/KEY");
  put->add_option("file", *a, "Local file")->required();
  put->add_option("uri", *b, "s3://BUCKET/KEY (KEY ending in / gets the file name)")->required();
  put->add_option("--content-type", *content_type, "Content-Type to store");
  AddClientFlags(put, *flags);
  AddRdmaFlags(put, *flags);
  put->callback([&run, flags, a, b, content_type] {
    run = [=] { return RunPut(*flags, *a, *b, *content_type); };
  });

  CLI::App* get = app.add_subcommand("get", "Download an object: s3rdma get s3://BUCKET/KEY FILE|-");
  get->add_option("uri", *a, "s3://BUCKET/KEY")->required();
  get->add_option("file", *b, "Local file, or - for stdout")->required();
  AddClientFlags(get, *flags);
  AddRdmaFlags(get, *flags);
  get->callback([&run, flags, a, b] { run = [=] { return RunGet(*flags, *a, *b); }; });

  CLI::App* rm = app.add_subcommand("rm", "Delete an object: s3rdma rm s3://BUCKET/KEY");
  rm->add_option("uri", *a, "s3://BUCKET/KEY")->required();
  AddClientFlags(rm, *flags);
  rm->callback([&run, flags, a] { run = [=] { return RunRm(*flags, *a); }; });
}

}  // namespace s3rdma::cli
