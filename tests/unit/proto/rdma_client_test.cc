// RdmaClient against the real S3Service + RdmaServer, in virtual time: DirectTransport for
// the HTTP control path, InProcFabric (seeded faults) for the RoCEv2 data path. Every
// failure message names the seed.
#include "proto/rdma_client.h"

#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/rng.h"
#include "core/virtual_runtime.h"
#include "emu/inproc_fabric.h"
#include "proto/client_common.h"
#include "proto/direct_transport.h"
#include "proto/hash.h"
#include "proto/memory_store.h"
#include "proto/rdma_server.h"
#include "proto/s3_error.h"
#include "proto/s3_service.h"

namespace s3rdma::proto {
namespace {

constexpr int64_t kEpoch = 1700000000;
const Credential kCred{"AKIDRDMA", "rdma-secret"};

struct WorldOptions {
  uint64_t seed = 1;
  double loss = 0.0;
  bool server_rdma = true;
  int connections = 1;
  int transports = 1;
  bool fallback = false;
  core::Duration http_latency = core::Duration::Microseconds(20);
  core::Duration request_timeout = core::Duration::Zero();
};

// One server (store + service + RDMA server on its own device) and one client (device +
// transports + RdmaClient) on an in-process fabric.
class World {
 public:
  explicit World(WorldOptions o)
      : o_(o),
        fabric_(runtime_, FabricConfig(o)),
        store_(o.seed),
        service_(ServiceConfigFor(), store_, Creds(), runtime_) {
    server_dev_ = std::move(emu::Device::Open(fabric_, {emu::Ipv4(10, 0, 0, 1), 4791})).value();
    client_dev_ = std::move(emu::Device::Open(fabric_, {emu::Ipv4(10, 0, 0, 2), 4791})).value();
    if (o.server_rdma) {
      RdmaServerOptions so;
      so.staging_bytes = 8 << 20;
      so.psn_seed = o.seed;
      rdma_server_ = std::move(RdmaServer::Create(*server_dev_, so)).value();
      service_.SetRdmaServer(rdma_server_.get());
    }
    ClientOptions co;
    co.credential = kCred;
    co.unix_time_at_runtime_zero = kEpoch;
    std::vector<S3Transport*> ts;
    for (int i = 0; i < o.transports; ++i) {
      transports_.push_back(std::make_unique<DirectTransport>(
          service_, runtime_, co, DirectTransportOptions{.latency = o.http_latency}));
      ts.push_back(transports_.back().get());
    }
    RdmaClientOptions ro;
    ro.connections = o.connections;
    ro.fallback_to_http = o.fallback;
    ro.seed = o.seed;
    ro.request_timeout = o.request_timeout;
    client_ = std::move(RdmaClient::Create(*client_dev_, ts, ro)).value();
  }
  ~World() {
    buffers_.clear();
    client_.reset();
  }

  static emu::InProcConfig FabricConfig(const WorldOptions& o) {
    emu::InProcConfig c;
    c.latency = core::Duration::Microseconds(2);
    c.link_rate = core::DataRate::Gbps(25);
    c.faults.drop_probability = o.loss;
    c.seed = o.seed;
    return c;
  }
  static ServiceConfig ServiceConfigFor() {
    ServiceConfig c;
    c.unix_time_at_runtime_zero = kEpoch;
    c.min_part_bytes = 1 << 10;
    return c;
  }
  static CredentialStore Creds() {
    CredentialStore s;
    s.Add(kCred);
    return s;
  }

  // A registered buffer of `size` bytes (owned by the world).
  RdmaBuffer& Buffer(size_t size) {
    memory_.push_back(std::make_unique<char[]>(size));
    std::memset(memory_.back().get(), 0, size);
    auto b = client_->RegisterBuffer(memory_.back().get(), size);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    buffers_.push_back(std::make_unique<RdmaBuffer>(std::move(b).value()));
    return *buffers_.back();
  }

  // Runs events until `done()`; not until the queue is empty: the server's idle sweep would
  // jump virtual time ahead and close every idle connection.
  void RunUntil(const std::function<bool()>& done) {
    while (!done() && runtime_.RunEvents(1) > 0) {
    }
  }
  template <typename T>
  T Wait(std::optional<T>& slot) {
    RunUntil([&] { return slot.has_value(); });
    EXPECT_TRUE(slot.has_value()) << "no callback; seed " << o_.seed;
    if (!slot) return T(core::Status::Internal("no callback"));
    return std::move(*slot);
  }
  core::Result<RdmaResult> Get(const std::string& key, RdmaBuffer& b, uint64_t offset = 0,
                               std::optional<ByteRange> range = std::nullopt) {
    std::optional<core::Result<RdmaResult>> out;
    client_->Get("bkt", key, range, b, offset, [&](core::Result<RdmaResult> r) { out = std::move(r); });
    return Wait(out);
  }
  core::Result<RdmaResult> Put(const std::string& key, RdmaBuffer& b, uint64_t offset,
                               uint64_t length) {
    std::optional<core::Result<RdmaResult>> out;
    client_->Put("bkt", key, b, offset, length, {}, [&](core::Result<RdmaResult> r) { out = std::move(r); });
    return Wait(out);
  }
  // Plain HTTP through the first transport.
  core::Result<ClientResponse> Http(ClientRequest r) {
    std::optional<core::Result<ClientResponse>> out;
    transports_[0]->Send(std::move(r), [&](core::Result<ClientResponse> x) { out = std::move(x); });
    return Wait(out);
  }
  core::Status MakeBucket() {
    ClientRequest r;
    r.method = "PUT";
    r.bucket = "bkt";
    return Http(std::move(r)).status();
  }
  core::Result<std::string> HttpGet(const std::string& key) {
    ClientRequest r;
    r.bucket = "bkt";
    r.key = key;
    S3_ASSIGN_OR_RETURN(auto resp, Http(std::move(r)));
    return resp.body;
  }

  core::VirtualRuntime runtime_;
  WorldOptions o_;
  emu::InProcFabric fabric_;
  MemoryStore store_;
  S3Service service_;
  std::unique_ptr<emu::Device> server_dev_;
  std::unique_ptr<emu::Device> client_dev_;
  std::unique_ptr<RdmaServer> rdma_server_;
  std::vector<std::unique_ptr<DirectTransport>> transports_;
  std::unique_ptr<RdmaClient> client_;
  std::vector<std::unique_ptr<char[]>> memory_;
  std::vector<std::unique_ptr<RdmaBuffer>> buffers_;
};

std::string Pattern(size_t n, uint64_t seed) {
  core::Rng rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng.NextU64());
  return s;
}

std::string Quoted(std::string_view data) { return "\"" + HexEncode(Md5(data)) + "\""; }

TEST(RdmaClient, PutAndGetByRdmaMatchHttp) {
  World w({.seed = 11});
  ASSERT_TRUE(w.MakeBucket().ok());
  const std::string data = Pattern(3 << 20, 11);
  RdmaBuffer& src = w.Buffer(data.size() + 100);
  std::memcpy(src.data() + 100, data.data(), data.size());
  auto put = w.Put("obj", src, 100, data.size());
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_TRUE(put->via_rdma);
  EXPECT_EQ(put->bytes, data.size());
  EXPECT_EQ(put->etag, Quoted(data));
  // Written over RDMA, read back over HTTP.
  auto http = w.HttpGet("obj");
  ASSERT_TRUE(http.ok()) << http.status().ToString();
  EXPECT_TRUE(*http == data);

  RdmaBuffer& dst = w.Buffer(4 << 20);
  auto get = w.Get("obj", dst, 7);
  ASSERT_TRUE(get.ok()) << get.status().ToString();
  EXPECT_EQ(get->status, 200);
  EXPECT_TRUE(get->via_rdma);
  EXPECT_EQ(get->bytes, data.size());
  EXPECT_EQ(get->etag, Quoted(data));
  EXPECT_TRUE(std::string_view(dst.data() + 7, data.size()) == data);
  EXPECT_EQ(dst.data()[6], 0);  // nothing written before the window
  EXPECT_EQ(dst.data()[7 + data.size()], 0);  // nor after the object

  // Written over HTTP, read back over RDMA.
  ClientRequest r;
  r.method = "PUT";
  r.bucket = "bkt";
  r.key = "plain";
  r.body = Pattern(5000, 12);
  const std::string plain = r.body;
  ASSERT_TRUE(w.Http(std::move(r)).ok());
  auto get2 = w.Get("plain", dst);
  ASSERT_TRUE(get2.ok()) << get2.status().ToString();
  EXPECT_EQ(std::string_view(dst.data(), plain.size()), plain);
  EXPECT_EQ(w.client_->stats().connects, 1u);
  EXPECT_EQ(w.client_->stats().rdma_done, 3u);
}

TEST(RdmaClient, RangedGetAndShortBuffer) {
  World w({.seed = 12});
  ASSERT_TRUE(w.MakeBucket().ok());
  const std::string data = Pattern(100000, 12);
  RdmaBuffer& buf = w.Buffer(200000);
  std::memcpy(buf.data(), data.data(), data.size());
  ASSERT_TRUE(w.Put("obj", buf, 0, data.size()).ok());
  RdmaBuffer& dst = w.Buffer(1010);
  auto get = w.Get("obj", dst, 10, ByteRange{5000, 5999});
  ASSERT_TRUE(get.ok()) << get.status().ToString();
  EXPECT_EQ(get->status, 206);
  EXPECT_EQ(get->bytes, 1000u);
  EXPECT_EQ(std::string_view(dst.data() + 10, 1000), std::string_view(data).substr(5000, 1000));
  // The range no longer fits behind offset 11: declined, nothing written, connection fine.
  std::memset(dst.data(), 0x5a, dst.size());
  auto small = w.Get("obj", dst, 11, ByteRange{5000, 5999});
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.status().message().find("RDMABufferTooSmall"), std::string::npos)
      << small.status().ToString();
  for (size_t i = 0; i < dst.size(); ++i) ASSERT_EQ(dst.data()[i], 0x5a) << i;
  // Whole object into a buffer too small.
  EXPECT_FALSE(w.Get("obj", dst).ok());
  // The next request on the same connection works.
  auto again = w.Get("obj", dst, 0, ByteRange{0, 1009});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(std::string_view(dst.data(), 1010), std::string_view(data).substr(0, 1010));
  EXPECT_EQ(w.client_->stats().connects, 1u);
  EXPECT_EQ(w.client_->stats().reconnects, 0u);
}

// An explicit length limits the token to the bytes asked: the server writes the range and
// nothing after it, and an object longer than the window is declined even though the
// registered buffer behind it would hold it.
TEST(RdmaClient, GetWithLengthConfinesTheTokenToTheAskedBytes) {
  World w({.seed = 14});
  ASSERT_TRUE(w.MakeBucket().ok());
  const std::string data = Pattern(5000, 14);
  RdmaBuffer& src = w.Buffer(5000);
  std::memcpy(src.data(), data.data(), data.size());
  ASSERT_TRUE(w.Put("obj", src, 0, data.size()).ok());
  RdmaBuffer& dst = w.Buffer(8192);
  std::memset(dst.data(), 0x5a, dst.size());
  std::optional<core::Result<RdmaResult>> out;
  w.client_->Get("bkt", "obj", ByteRange{100, 1099}, dst, 64, 1000,
                 [&](core::Result<RdmaResult> r) { out = std::move(r); });
  auto got = w.Wait(out);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->bytes, 1000u);
  EXPECT_EQ(std::string_view(dst.data() + 64, 1000), std::string_view(data).substr(100, 1000));
  for (size_t i = 0; i < dst.size(); ++i) {
    if (i < 64 || i >= 1064) {
      ASSERT_EQ(dst.data()[i], 0x5a) << i;
    }
  }
  // The whole object (5000 B) does not fit the 1000 B window: declined, nothing written.
  std::memset(dst.data(), 0x5a, dst.size());
  out.reset();
  w.client_->Get("bkt", "obj", std::nullopt, dst, 64, 1000,
                 [&](core::Result<RdmaResult> r) { out = std::move(r); });
  auto small = w.Wait(out);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.status().message().find("RDMABufferTooSmall"), std::string::npos)
      << small.status().ToString();
  for (size_t i = 0; i < dst.size(); ++i) ASSERT_EQ(dst.data()[i], 0x5a) << i;
  // Without a length the window is the rest of the buffer, so the same GET fits.
  out.reset();
  w.client_->Get("bkt", "obj", std::nullopt, dst, 64,
                 [&](core::Result<RdmaResult> r) { out = std::move(r); });
  auto whole = w.Wait(out);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(std::string_view(dst.data() + 64, 5000), data);
  // Bad windows: empty, or past the buffer.
  for (uint64_t len : {uint64_t{0}, uint64_t{8192 - 64 + 1}}) {
    out.reset();
    w.client_->Get("bkt", "obj", std::nullopt, dst, 64, len,
                   [&](core::Result<RdmaResult> r) { out = std::move(r); });
    EXPECT_EQ(w.Wait(out).status().code(), core::StatusCode::kInvalidArgument) << len;
  }
}

// request_timeout: a GET whose server has not answered in time fails with DeadlineExceeded,
// and its QP is reset first, so the server's late RDMA WRITE cannot reach the buffer.
TEST(RdmaClient, TimedOutGetFencesTheBuffer) {
  // 1 ms each way: connect ~2 ms, then the GET reaches the server at ~3 ms; timeout 2.5 ms.
  World w({.seed = 15, .http_latency = core::Duration::Milliseconds(1),
           .request_timeout = core::Duration::Microseconds(2500)});
  const std::string data = Pattern(3000, 15);
  ASSERT_TRUE(w.MakeBucket().ok());
  ClientRequest put;
  put.method = "PUT";
  put.bucket = "bkt";
  put.key = "obj";
  put.body = data;
  ASSERT_TRUE(w.Http(std::move(put)).ok());
  RdmaBuffer& dst = w.Buffer(4096);
  std::memset(dst.data(), 0x5a, dst.size());
  auto got = w.Get("obj", dst);
  EXPECT_EQ(got.status().code(), core::StatusCode::kDeadlineExceeded) << got.status().ToString();
  EXPECT_EQ(w.client_->stats().timeouts, 1u);
  EXPECT_EQ(w.client_->stats().reconnects, 1u);
  EXPECT_EQ(w.client_->connected(), 0);
  // Let the server act on the request (its WRITE meets the reset QP) and answer.
  for (int i = 0; i < 100000 && w.runtime_.RunEvents(1) > 0; ++i) {
  }
  for (size_t i = 0; i < dst.size(); ++i) ASSERT_EQ(dst.data()[i], 0x5a) << i;
  EXPECT_EQ(w.client_->stats().requests, 1u);
  EXPECT_EQ(w.client_->stats().failures, 1u);  // the late reply did not call back again
}

// A client process that dies mid-PUT (its RdmaClient, buffers and NIC vanish while the
// server RDMA READs): the server's transfer fails after its retries, the object is never
// stored (not even in part), and the server drops the dead client's connection.
TEST(RdmaClient, ClientDyingMidPutLeavesNoObjectAndNoConnection) {
  World w({.seed = 16});
  ASSERT_TRUE(w.MakeBucket().ok());
  const std::string data = Pattern(1 << 20, 16);  // ~340 us of READs at 25 Gbit/s
  RdmaBuffer& src = w.Buffer(data.size());
  std::memcpy(src.data(), data.data(), data.size());
  bool called = false;
  w.client_->Put("bkt", "big", src, 0, data.size(), {},
                 [&](core::Result<RdmaResult>) { called = true; });
  const core::Time start = w.runtime_.Now();
  w.runtime_.RunUntil(start + core::Duration::Microseconds(200));  // connected, mid-transfer
  ASSERT_FALSE(called);
  ASSERT_EQ(w.rdma_server_->connection_count(), 1u);
  w.buffers_.clear();  // the process dies: memory regions, client, NIC
  w.client_.reset();
  w.client_dev_.reset();
  w.runtime_.RunUntil(w.runtime_.Now() + core::Duration::Seconds(2));  // > 7 x 67 ms retries
  EXPECT_FALSE(called);
  EXPECT_EQ(w.rdma_server_->connection_count(), 0u) << "seed 16";
  EXPECT_GE(w.rdma_server_->stats().connections_failed, 1u);
  auto got = w.HttpGet("big");
  EXPECT_TRUE(IsS3Error(got.status(), S3Err::kNoSuchKey)) << got.status().ToString();
}

TEST(RdmaClient, ErrorsAreReportedAndTheClientCarriesOn) {
  World w({.seed = 13});
  ASSERT_TRUE(w.MakeBucket().ok());
  RdmaBuffer& buf = w.Buffer(4096);
  auto missing = w.Get("nope", buf);
  EXPECT_TRUE(IsS3Error(missing.status(), S3Err::kNoSuchKey)) << missing.status().ToString();
  std::optional<core::Result<RdmaResult>> out;
  w.client_->Get("bkt", "k", std::nullopt, buf, 4096, [&](auto r) { out = std::move(r); });
  EXPECT_EQ(w.Wait(out).status().code(), core::StatusCode::kInvalidArgument);
  out.reset();
  w.client_->Put("bkt", "k", buf, 4000, 97, {}, [&](auto r) { out = std::move(r); });
  EXPECT_EQ(w.Wait(out).status().code(), core::StatusCode::kInvalidArgument);
  // A PUT with a wrong Content-MD5 is refused and stores nothing.
  out.reset();
  w.client_->Put("bkt", "md5", buf, 0, 100, {{"content-md5", "AAAAAAAAAAAAAAAAAAAAAA=="}},
                 [&](auto r) { out = std::move(r); });
  EXPECT_FALSE(w.Wait(out).ok());
  EXPECT_FALSE(w.HttpGet("md5").ok());
  EXPECT_TRUE(w.Put("ok", buf, 0, 4096).ok());
}

TEST(RdmaClient, MultipartFromRegisteredBuffers) {
  World w({.seed = 14});
  ASSERT_TRUE(w.MakeBucket().ok());
  const std::string data = Pattern(10000, 14);
  RdmaBuffer& buf = w.Buffer(data.size());
  std::memcpy(buf.data(), data.data(), data.size());
  std::optional<core::Result<std::string>> id;
  w.client_->CreateUpload("bkt", "mp", {{"x-amz-meta-who", "rdma"}},
                          [&](core::Result<std::string> r) { id = std::move(r); });
  auto upload = w.Wait(id);
  ASSERT_TRUE(upload.ok()) << upload.status().ToString();
  // Three parts in flight at once: 4000, 4000, 2000 bytes.
  std::vector<std::optional<core::Result<RdmaResult>>> parts(3);
  const uint64_t offs[] = {0, 4000, 8000}, lens[] = {4000, 4000, 2000};
  for (int i = 0; i < 3; ++i) {
    w.client_->UploadPart("bkt", "mp", *upload, i + 1, buf, offs[i], lens[i],
                          [&, i](core::Result<RdmaResult> r) { parts[i] = std::move(r); });
  }
  w.RunUntil([&] { return parts[0] && parts[1] && parts[2]; });
  std::vector<CompletedPart> done;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(parts[i].has_value() && parts[i]->ok())
        << (parts[i] ? parts[i]->status().ToString() : "no callback");
    EXPECT_EQ((*parts[i])->etag, Quoted(std::string_view(data).substr(offs[i], lens[i])));
    done.push_back({i + 1, (*parts[i])->etag});
  }
  std::optional<core::Result<RdmaResult>> complete;
  w.client_->CompleteUpload("bkt", "mp", *upload, done, [&](auto r) { complete = std::move(r); });
  auto c = w.Wait(complete);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_NE(c->etag.find("-3\""), std::string::npos) << c->etag;
  auto http = w.HttpGet("mp");
  ASSERT_TRUE(http.ok());
  EXPECT_TRUE(*http == data);
}

TEST(RdmaClient, ManyOutstandingOverSeveralConnectionsAndTransports) {
  World w({.seed = 15, .connections = 4, .transports = 3});
  ASSERT_TRUE(w.MakeBucket().ok());
  constexpr int kObjects = 48;
  constexpr size_t kSlot = 70000;
  RdmaBuffer& src = w.Buffer(kObjects * kSlot);
  RdmaBuffer& dst = w.Buffer(kObjects * kSlot);
  std::vector<std::string> data;
  int ok = 0;
  for (int i = 0; i < kObjects; ++i) {
    data.push_back(Pattern(1000 + i * 1400, 100 + i));
    std::memcpy(src.data() + i * kSlot, data[i].data(), data[i].size());
    w.client_->Put("bkt", "o" + std::to_string(i), src, i * kSlot, data[i].size(), {},
                   [&](core::Result<RdmaResult> r) {
                     EXPECT_TRUE(r.ok()) << r.status().ToString();
                     ok += r.ok();
                   });
  }
  int calls = 0;
  w.RunUntil([&] { return ok + calls >= kObjects; });
  ASSERT_EQ(ok, kObjects);
  for (int i = 0; i < kObjects; ++i) {
    w.client_->Get("bkt", "o" + std::to_string(i), std::nullopt, dst, i * kSlot,
                   [&, i](core::Result<RdmaResult> r) {
                     ASSERT_TRUE(r.ok()) << r.status().ToString();
                     EXPECT_EQ(r->bytes, data[i].size());
                     ok += r.ok();
                     ++calls;
                   });
  }
  w.RunUntil([&] { return calls >= kObjects; });
  EXPECT_EQ(ok, 2 * kObjects);
  for (int i = 0; i < kObjects; ++i) {
    ASSERT_EQ(std::string_view(dst.data() + i * kSlot, data[i].size()), data[i]) << i;
  }
  EXPECT_EQ(w.client_->connected(), 4);
  EXPECT_EQ(w.client_->stats().connects, 4u);
  EXPECT_EQ(w.rdma_server_->connection_count(), 4u);
  for (auto& t : w.transports_) EXPECT_GT(t->stats().requests, 10u);
  // Close disconnects every QP on the server.
  bool closed = false;
  w.client_->Close([&] { closed = true; });
  w.RunUntil([&] { return closed; });
  EXPECT_TRUE(closed);
  EXPECT_EQ(w.rdma_server_->connection_count(), 0u);
  EXPECT_EQ(w.client_->connected(), 0);
}

class RdmaClientLoss : public ::testing::TestWithParam<double> {};

TEST_P(RdmaClientLoss, EveryRequestCompletesCorrectly) {
  for (uint64_t seed : {21, 22}) {
    World w({.seed = seed, .loss = GetParam(), .connections = 2, .transports = 2});
    ASSERT_TRUE(w.MakeBucket().ok());
    constexpr int kObjects = 12;
    constexpr size_t kSize = 200000;
    RdmaBuffer& src = w.Buffer(kObjects * kSize);
    RdmaBuffer& dst = w.Buffer(kObjects * kSize);
    const std::string data = Pattern(kObjects * kSize, seed);
    std::memcpy(src.data(), data.data(), data.size());
    int ok = 0, calls = 0;
    for (int i = 0; i < kObjects; ++i) {
      w.client_->Put("bkt", "o" + std::to_string(i), src, i * kSize, kSize, {},
                     [&](core::Result<RdmaResult> r) {
                       EXPECT_TRUE(r.ok()) << r.status().ToString() << " seed " << seed;
                       ok += r.ok();
                       ++calls;
                     });
    }
    w.RunUntil([&] { return calls == kObjects; });
    for (int i = 0; i < kObjects; ++i) {
      w.client_->Get("bkt", "o" + std::to_string(i), std::nullopt, dst, i * kSize,
                     [&](core::Result<RdmaResult> r) {
                       EXPECT_TRUE(r.ok()) << r.status().ToString() << " seed " << seed;
                       ok += r.ok();
                       ++calls;
                     });
    }
    w.RunUntil([&] { return calls == 2 * kObjects; });
    EXPECT_EQ(ok, 2 * kObjects) << "seed " << seed;
    EXPECT_TRUE(std::memcmp(dst.data(), data.data(), data.size()) == 0) << "seed " << seed;
    EXPECT_GT(w.fabric_.stats().dropped, 0u) << "seed " << seed;
  }
}

INSTANTIATE_TEST_SUITE_P(OneAndFivePercent, RdmaClientLoss, ::testing::Values(0.01, 0.05));

TEST(RdmaClient, ReconnectsAfterAQpError) {
  World w({.seed = 16});
  ASSERT_TRUE(w.MakeBucket().ok());
  RdmaBuffer& buf = w.Buffer(300000);
  const std::string data = Pattern(300000, 16);
  std::memcpy(buf.data(), data.data(), data.size());
  ASSERT_TRUE(w.Put("obj", buf, 0, data.size()).ok());
  const uint32_t old_qpn = w.client_->QpForTesting(0)->qp_num();
  // The client's QP dies (as a NIC error would); the server's next transfer fails, the
  // client drops the QP, connects a new one and retries once: the caller sees success.
  w.client_->BreakConnectionForTesting(0);
  std::memset(buf.data(), 0, buf.size());
  auto get = w.Get("obj", buf);
  ASSERT_TRUE(get.ok()) << get.status().ToString();
  EXPECT_TRUE(std::string_view(buf.data(), data.size()) == data);
  EXPECT_EQ(w.client_->stats().reconnects, 1u);
  EXPECT_EQ(w.client_->stats().retries, 1u);
  EXPECT_EQ(w.client_->stats().connects, 2u);
  EXPECT_NE(w.client_->QpForTesting(0)->qp_num(), old_qpn);  // a new QP, not the dead one
  EXPECT_EQ(w.rdma_server_->connection_count(), 1u);
  // The server forgetting the connection (idle timeout, restart) is handled the same way.
  ASSERT_TRUE(w.rdma_server_
                  ->Disconnect(w.client_dev_->gid(), w.client_->QpForTesting(0)->qp_num(),
                               kCred.access_key)
                  .ok());
  auto put = w.Put("obj2", buf, 0, 1000);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(w.client_->stats().reconnects, 2u);
  EXPECT_EQ(*w.HttpGet("obj2"), data.substr(0, 1000));
  // The server closes idle connections (10 minutes): the next request reconnects.
  w.runtime_.RunUntil(w.runtime_.Now() + core::Duration::Seconds(1300));
  EXPECT_EQ(w.rdma_server_->connection_count(), 0u);
  auto late = w.Get("obj", buf);
  ASSERT_TRUE(late.ok()) << late.status().ToString();
  EXPECT_EQ(w.client_->stats().reconnects, 3u);
  EXPECT_EQ(w.rdma_server_->connection_count(), 1u);
}

TEST(RdmaClient, QpCountersKeepTheDroppedQps) {
  World w({.seed = 18});
  ASSERT_TRUE(w.MakeBucket().ok());
  RdmaBuffer& buf = w.Buffer(300000);
  const std::string data = Pattern(300000, 18);
  std::memcpy(buf.data(), data.data(), data.size());
  ASSERT_TRUE(w.Put("obj", buf, 0, data.size()).ok());
  // The server READ the object from the client's QP: its READ responses count there.
  const emu::QpStats first = w.client_->QpCounters();
  EXPECT_GT(first.packets_sent, 0u) << "seed 18";
  EXPECT_EQ(w.client_->stats().destroyed_qps.packets_sent, 0u);
  w.client_->BreakConnectionForTesting(0);
  auto get = w.Get("obj", buf);
  ASSERT_TRUE(get.ok()) << get.status().ToString() << " (seed 18)";
  ASSERT_EQ(w.client_->stats().reconnects, 1u);
  // The broken QP is gone, its counters are not: the client summed them when it destroyed it.
  const emu::QpStats& gone = w.client_->stats().destroyed_qps;
  EXPECT_GE(gone.packets_sent, first.packets_sent) << "seed 18";
  EXPECT_GE(gone.packets_received, first.packets_received) << "seed 18";
  const emu::QpStats& now = w.client_->QpForTesting(0)->stats();
  EXPECT_GT(now.packets_received, 0u) << "seed 18";  // the GET's WRITE landed on the new QP
  const emu::QpStats all = w.client_->QpCounters();
  EXPECT_EQ(all.packets_sent, gone.packets_sent + now.packets_sent);
  EXPECT_EQ(all.packets_received, gone.packets_received + now.packets_received);
  EXPECT_EQ(all.acks_sent, gone.acks_sent + now.acks_sent);
}

TEST(RdmaClient, ServerWithoutRdma) {
  {
    World w({.seed = 17, .server_rdma = false});
    ASSERT_TRUE(w.MakeBucket().ok());
    RdmaBuffer& buf = w.Buffer(1000);
    auto put = w.Put("obj", buf, 0, 1000);
    EXPECT_EQ(put.status().code(), core::StatusCode::kUnimplemented) << put.status().ToString();
    EXPECT_TRUE(w.client_->server_without_rdma());
    EXPECT_FALSE(w.HttpGet("obj").ok());  // nothing stored
  }
  World w({.seed = 17, .server_rdma = false, .fallback = true});
  ASSERT_TRUE(w.MakeBucket().ok());
  const std::string data = Pattern(1000, 17);
  RdmaBuffer& buf = w.Buffer(1000);
  std::memcpy(buf.data(), data.data(), data.size());
  auto put = w.Put("obj", buf, 0, 1000);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_FALSE(put->via_rdma);
  EXPECT_EQ(put->etag, Quoted(data));
  EXPECT_EQ(*w.HttpGet("obj"), data);
  std::memset(buf.data(), 0, buf.size());
  auto get = w.Get("obj", buf, 0, ByteRange{10, 19});
  ASSERT_TRUE(get.ok()) << get.status().ToString();
  EXPECT_FALSE(get->via_rdma);
  EXPECT_EQ(get->status, 206);
  EXPECT_EQ(std::string_view(buf.data(), 10), std::string_view(data).substr(10, 10));
  EXPECT_EQ(w.client_->stats().http_fallbacks, 2u);
}

TEST(RdmaClient, SameSeedSameRun) {
  auto run = [](uint64_t seed) {
    World w({.seed = seed, .loss = 0.02, .connections = 2, .transports = 2});
    EXPECT_TRUE(w.MakeBucket().ok());
    RdmaBuffer& buf = w.Buffer(1 << 20);
    int calls = 0;
    for (int i = 0; i < 4; ++i) {
      w.client_->Put("bkt", "k" + std::to_string(i), buf, i * 1000, 200000, {},
                     [&](auto r) { calls += r.ok(); });
    }
    w.RunUntil([&] { return calls == 4; });
    return std::make_pair(w.runtime_.TraceHash(), w.runtime_.Now());
  };
  EXPECT_EQ(run(31), run(31)) << "seed 31";
}

TEST(ClientRdmaAddress, PerProcessLoopbackOrExplicit) {
  auto a = ClientRdmaAddress("udp", "127.0.0.1", 4242);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->ipv4 >> 24, 127u);
  EXPECT_NE(a->ipv4, emu::Ipv4(127, 0, 0, 1));
  EXPECT_EQ(a->udp_port, 0);
  auto b = ClientRdmaAddress("udp", "localhost", 4243);
  ASSERT_TRUE(b.ok());
  EXPECT_NE(a->ipv4, b->ipv4);  // two processes, two GIDs
  for (int pid : {0, 255, 256, 65535, 4194303, 4194304}) {
    auto c = ClientRdmaAddress("udp", "127.0.0.1", pid);
    ASSERT_TRUE(c.ok());
    EXPECT_NE(c->ipv4 & 0xff, 0u) << pid;
    EXPECT_NE(c->ipv4 & 0xff, 0xffu) << pid;
    EXPECT_GE((c->ipv4 >> 16) & 0xff, 64u) << pid;
  }
  auto explicit_addr = ClientRdmaAddress("udp:10.1.2.3:5000", "10.1.2.1", 1);
  ASSERT_TRUE(explicit_addr.ok());
  EXPECT_EQ(*explicit_addr, (emu::NodeAddress{emu::Ipv4(10, 1, 2, 3), 5000}));
  EXPECT_EQ(ClientRdmaAddress("udp:10.1.2.3", "x", 1)->udp_port, 0);
  EXPECT_FALSE(ClientRdmaAddress("udp", "10.1.2.1", 1).ok());  // needs ADDR
  EXPECT_FALSE(ClientRdmaAddress("tcp", "127.0.0.1", 1).ok());
  EXPECT_FALSE(ClientRdmaAddress("udpx", "127.0.0.1", 1).ok());
  EXPECT_FALSE(ClientRdmaAddress("udp:0.0.0.0", "127.0.0.1", 1).ok());
  EXPECT_FALSE(ClientRdmaAddress("udp:1.2.3", "127.0.0.1", 1).ok());
}

}  // namespace
}  // namespace s3rdma::proto
