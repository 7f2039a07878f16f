// DirectTransport: the S3 client path without sockets, in virtual time.
#include "proto/direct_transport.h"

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/virtual_runtime.h"
#include "emu/inproc_fabric.h"
#include "emu/verbs.h"
#include "proto/client_common.h"
#include "proto/hash.h"
#include "proto/memory_store.h"
#include "proto/rdma_client.h"
#include "proto/rdma_server.h"
#include "proto/s3_error.h"
#include "proto/s3_service.h"

namespace s3rdma::proto {
namespace {

constexpr int64_t kEpoch = 1700000000;
const Credential kCred{"AKIDDIRECT", "direct-secret"};

class DirectTransportTest : public ::testing::Test {
 protected:
  DirectTransportTest() : service_(Config(), store_, Creds(), runtime_) {}
  static ServiceConfig Config() {
    ServiceConfig c;
    c.unix_time_at_runtime_zero = kEpoch;
    c.min_part_bytes = 4;
    return c;
  }
  static CredentialStore Creds() {
    CredentialStore s;
    s.Add(kCred);
    return s;
  }
  static ClientOptions Options(Credential cred = kCred) {
    ClientOptions o;
    o.credential = cred;
    o.unix_time_at_runtime_zero = kEpoch;
    return o;
  }
  // Sends and runs the runtime until the callback ran.
  core::Result<ClientResponse> Call(DirectTransport& t, ClientRequest r) {
    std::optional<core::Result<ClientResponse>> out;
    t.Send(std::move(r), [&](core::Result<ClientResponse> res) { out = std::move(res); });
    EXPECT_FALSE(out.has_value()) << "callback ran inside Send()";
    runtime_.Run();
    EXPECT_TRUE(out.has_value());
    if (!out) return core::Status::Internal("no callback");
    return std::move(*out);
  }
  static ClientRequest Req(std::string method, std::string bucket, std::string key = "",
                           std::string body = "") {
    ClientRequest r;
    r.method = std::move(method);
    r.bucket = std::move(bucket);
    r.key = std::move(key);
    r.body = std::move(body);
    return r;
  }

  core::VirtualRuntime runtime_;
  MemoryStore store_{7};
  S3Service service_;
};

TEST_F(DirectTransportTest, PutGetListDeleteSigned) {
  DirectTransport t(service_, runtime_, Options());
  ASSERT_TRUE(Call(t, Req("PUT", "bkt")).ok());
  std::string data(200000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + 3);
  auto put = Call(t, Req("PUT", "bkt", "dir/a b+c", data));
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  ASSERT_NE(put->Header("etag"), nullptr);
  EXPECT_EQ(*put->Header("etag"), "\"" + HexEncode(Md5(data)) + "\"");

  auto get = Call(t, Req("GET", "bkt", "dir/a b+c"));
  ASSERT_TRUE(get.ok()) << get.status().ToString();
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, data);
  EXPECT_EQ(*get->Header("content-length"), std::to_string(data.size()));

  // Ranged GET into a body sink.
  ClientRequest ranged = Req("GET", "bkt", "dir/a b+c");
  ranged.headers.emplace_back("range", "bytes=10-19");
  std::string sunk;
  ranged.body_sink = [&](std::string_view d) {
    sunk.append(d);
    return core::Status::Ok();
  };
  auto part = Call(t, std::move(ranged));
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(part->status, 206);
  EXPECT_EQ(sunk, data.substr(10, 10));
  EXPECT_TRUE(part->body.empty());

  ClientRequest list = Req("GET", "bkt");
  list.query = {{"list-type", "2"}, {"prefix", "dir/"}};
  auto listed = Call(t, std::move(list));
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(XmlTag(listed->body, "Key"), "dir/a b+c");

  auto head = Call(t, Req("HEAD", "bkt", "dir/a b+c"));
  ASSERT_TRUE(head.ok());
  EXPECT_TRUE(head->body.empty());
  EXPECT_EQ(*head->Header("content-length"), std::to_string(data.size()));

  ASSERT_TRUE(Call(t, Req("DELETE", "bkt", "dir/a b+c")).ok());
  auto gone = Call(t, Req("GET", "bkt", "dir/a b+c"));
  EXPECT_TRUE(IsS3Error(gone.status(), S3Err::kNoSuchKey)) << gone.status().ToString();
  EXPECT_EQ(t.in_flight(), 0u);
  EXPECT_EQ(t.stats().bytes_sent, data.size());
}

TEST_F(DirectTransportTest, MultipartUpload) {
  DirectTransport t(service_, runtime_, Options());
  ASSERT_TRUE(Call(t, Req("PUT", "mpu")).ok());
  ClientRequest create = Req("POST", "mpu", "big");
  create.query = {{"uploads", ""}};
  auto created = Call(t, std::move(create));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  const std::string upload_id = XmlTag(created->body, "UploadId");
  ASSERT_FALSE(upload_id.empty()) << created->body;
  const std::string parts[] = {"first-part", "second", "3"};
  std::string xml = "<CompleteMultipartUpload>";
  for (int i = 0; i < 3; ++i) {
    ClientRequest up = Req("PUT", "mpu", "big", parts[i]);
    up.query = {{"partNumber", std::to_string(i + 1)}, {"uploadId", upload_id}};
    auto r = Call(t, std::move(up));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" +
           *r->Header("etag") + "</ETag></Part>";
  }
  xml += "</CompleteMultipartUpload>";
  ClientRequest complete = Req("POST", "mpu", "big", xml);
  complete.query = {{"uploadId", upload_id}};
  auto done = Call(t, std::move(complete));
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_NE(XmlTag(done->body, "ETag").find("-3"), std::string::npos) << done->body;
  auto get = Call(t, Req("GET", "mpu", "big"));
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->body, "first-partsecond3");
}

TEST_F(DirectTransportTest, ErrorsAsStatusOrAsResponses) {
  DirectTransport bad(service_, runtime_, Options({kCred.access_key, "wrong-secret"}));
  auto denied = Call(bad, Req("PUT", "bkt"));
  EXPECT_TRUE(IsS3Error(denied.status(), S3Err::kSignatureDoesNotMatch))
      << denied.status().ToString();

  DirectTransport t(service_, runtime_, Options());
  ClientRequest r = Req("GET", "nosuchbucket", "k");
  r.return_error_responses = true;
  auto raw = Call(t, std::move(r));
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->status, 404);
  EXPECT_EQ(ErrorCodeOf(raw->body), "NoSuchBucket");

  // Anonymous requests are refused by a server that does not allow them.
  ClientOptions anon = Options();
  anon.anonymous = true;
  DirectTransport a(service_, runtime_, anon);
  EXPECT_TRUE(IsS3Error(Call(a, Req("GET", "")).status(), S3Err::kAccessDenied));

  // A body sink's error is the request's error.
  ASSERT_TRUE(Call(t, Req("PUT", "bkt")).ok());
  ASSERT_TRUE(Call(t, Req("PUT", "bkt", "k", "payload")).ok());
  ClientRequest sink = Req("GET", "bkt", "k");
  sink.body_sink = [](std::string_view) { return core::Status::IOError("disk full"); };
  auto failed = Call(t, std::move(sink));
  EXPECT_EQ(failed.status().code(), core::StatusCode::kIOError) << failed.status().ToString();
}

TEST_F(DirectTransportTest, LatencyInVirtualTimeAndManyOutstanding) {
  DirectTransport t(service_, runtime_, Options(),
                    {.latency = core::Duration::Microseconds(25), .body_chunk_bytes = 5});
  ASSERT_TRUE(Call(t, Req("PUT", "bkt")).ok());
  EXPECT_EQ(runtime_.Now(), core::Time() + core::Duration::Microseconds(50));
  // Many requests at once complete together after one round trip: no serialisation.
  std::vector<int> order;
  for (int i = 0; i < 20; ++i) {
    t.Send(Req("PUT", "bkt", "k" + std::to_string(i), "value-" + std::to_string(i)),
           [&, i](core::Result<ClientResponse> r) {
             EXPECT_TRUE(r.ok()) << r.status().ToString();
             order.push_back(i);
           });
  }
  EXPECT_EQ(t.in_flight(), 20u);
  runtime_.Run();
  EXPECT_EQ(runtime_.Now(), core::Time() + core::Duration::Microseconds(100));
  ASSERT_EQ(order.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(order[i], i);
  auto get = Call(t, Req("GET", "bkt", "k13"));
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->body, "value-13");
}

TEST_F(DirectTransportTest, DestroyedWithRequestsInFlight) {
  bool called = false;
  {
    DirectTransport t(service_, runtime_, Options(), {.latency = core::Duration::Microseconds(5)});
    t.Send(Req("PUT", "bkt"), [&](core::Result<ClientResponse>) { called = true; });
    runtime_.RunUntil(core::Time() + core::Duration::Microseconds(7));  // request delivered
  }
  runtime_.Run();
  EXPECT_FALSE(called);
  EXPECT_TRUE(store_.HeadBucket("bkt").ok());  // the request itself did reach the server
}

// Sends with extras and runs the runtime until the callback ran.
core::Result<ClientResponse> CallWith(core::VirtualRuntime& rt, DirectTransport& t, ClientRequest r,
                                      DirectRequestExtras extras) {
  std::optional<core::Result<ClientResponse>> out;
  t.Send(std::move(r), [&](core::Result<ClientResponse> res) { out = std::move(res); }, std::move(extras));
  rt.Run();
  if (!out) return core::Status::Internal("no callback");
  return std::move(*out);
}

TEST_F(DirectTransportTest, BodiesWaitForTheirCrossing) {
  DirectTransport t(service_, runtime_, Options(), {.body_chunk_bytes = 1000});
  ASSERT_TRUE(Call(t, Req("PUT", "bkt")).ok());
  const std::string data(5000, 'x');
  const core::Duration crossing = core::Duration::Microseconds(40);
  std::vector<std::pair<BodyDirection, uint64_t>> seen;
  bool stored_before_crossing = true;
  DirectRequestExtras extras;
  extras.body_crossing = [&](BodyDirection d, uint64_t bytes, std::function<void()> go) {
    seen.emplace_back(d, bytes);
    if (d == BodyDirection::kRequest) stored_before_crossing = store_.Stat("bkt", "k").ok();
    runtime_.After(crossing, std::move(go));
  };
  const core::Time t0 = runtime_.Now();
  auto put = CallWith(runtime_, t, Req("PUT", "bkt", "k", data), extras);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, BodyDirection::kRequest);
  EXPECT_EQ(seen[0].second, data.size());
  EXPECT_FALSE(stored_before_crossing);  // the service got the body only after it crossed
  EXPECT_EQ(runtime_.Now() - t0, crossing);

  // A GET's object body crosses before the caller sees it; a ranged one by its length.
  seen.clear();
  ClientRequest ranged = Req("GET", "bkt", "k");
  ranged.headers.emplace_back("range", "bytes=100-1099");
  const core::Time t1 = runtime_.Now();
  auto got = CallWith(runtime_, t, std::move(ranged), extras);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->body, data.substr(100, 1000));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, BodyDirection::kResponse);
  EXPECT_EQ(seen[0].second, 1000u);
  EXPECT_EQ(runtime_.Now() - t1, crossing);

  // Error bodies and bodiless requests do not cross as object bodies.
  seen.clear();
  auto missing = CallWith(runtime_, t, Req("GET", "bkt", "nope"), extras);
  EXPECT_TRUE(IsS3Error(missing.status(), S3Err::kNoSuchKey)) << missing.status().ToString();
  ASSERT_TRUE(CallWith(runtime_, t, Req("HEAD", "bkt", "k"), extras).ok());
  EXPECT_TRUE(seen.empty());
}

TEST_F(DirectTransportTest, PhantomBodiesRunTheRealServiceWithoutBytes) {
  DirectTransport t(service_, runtime_, Options(), {.body_chunk_bytes = 4096, .phantom_bodies = true});
  ASSERT_TRUE(Call(t, Req("PUT", "bkt")).ok());
  // A 1 MiB body that exists nowhere: signed UNSIGNED-PAYLOAD, fed as zeros, stored.
  DirectRequestExtras extras;
  extras.phantom_body_bytes = 1 << 20;
  auto put = CallWith(runtime_, t, Req("PUT", "bkt", "ghost"), extras);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  const std::string zeros(1 << 20, '\0');
  EXPECT_EQ(*put->Header("etag"), "\"" + HexEncode(Md5(zeros)) + "\"");
  auto meta = store_.Stat("bkt", "ghost");
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->size, uint64_t{1} << 20);
  EXPECT_EQ(t.stats().bytes_sent, uint64_t{1} << 20);

  // The real checks still run: a declared payload hash that the (zero) bytes do not match.
  ClientRequest lying = Req("PUT", "bkt", "liar");
  lying.headers.emplace_back("x-amz-content-sha256", HexEncode(Sha256("something else")));
  auto refused = CallWith(runtime_, t, std::move(lying), extras);
  EXPECT_TRUE(IsS3Error(refused.status(), S3Err::kXAmzContentSHA256Mismatch)) << refused.status().ToString();
  EXPECT_FALSE(store_.Stat("bkt", "liar").ok());

  // Object bodies of responses are not read: sizes only, the sink is never called.
  ClientRequest get = Req("GET", "bkt", "ghost");
  bool sunk = false;
  get.body_sink = [&](std::string_view) {
    sunk = true;
    return core::Status::Ok();
  };
  const uint64_t before = t.stats().bytes_received;
  auto got = Call(t, std::move(get));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_FALSE(sunk);
  EXPECT_TRUE(got->body.empty());
  EXPECT_EQ(*got->Header("content-length"), std::to_string(1 << 20));
  EXPECT_EQ(t.stats().bytes_received - before, uint64_t{1} << 20);
  // String bodies (XML) still arrive.
  ClientRequest list = Req("GET", "bkt");
  list.query = {{"list-type", "2"}};
  auto listed = Call(t, std::move(list));
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(XmlTag(listed->body, "Key"), "ghost");
}

TEST_F(DirectTransportTest, DestroyedWhileTheServiceRunsAnRdmaTransfer) {
  // An RDMA GET's reply comes when the server's WRITE completes, from the RDMA server, not
  // from the transport: a client that goes away in between (its transport destroyed) must not
  // be touched by that late completion (ASan: heap-use-after-free before the fix).
  emu::InProcConfig fc;
  fc.latency = core::Duration::Microseconds(2);
  fc.link_rate = core::DataRate::Gbps(10);
  emu::InProcFabric fabric(runtime_, fc);
  auto server_dev = emu::Device::Open(fabric, {emu::Ipv4(10, 0, 0, 1), 4791});
  auto client_dev = emu::Device::Open(fabric, {emu::Ipv4(10, 0, 0, 2), 4791});
  ASSERT_TRUE(server_dev.ok() && client_dev.ok());
  RdmaServerOptions so;
  so.staging_bytes = 8 << 20;
  auto rdma = RdmaServer::Create(**server_dev, so);
  ASSERT_TRUE(rdma.ok()) << rdma.status().ToString();
  service_.SetRdmaServer(rdma->get());
  const std::string data(4 << 20, 'r');  // 4 MiB: ~3.4 ms on the 10 Gbps link
  {
    DirectTransport setup(service_, runtime_, Options());
    ASSERT_TRUE(Call(setup, Req("PUT", "bkt")).ok());
    ASSERT_TRUE(Call(setup, Req("PUT", "bkt", "big", data)).ok());
  }
  auto transport = std::make_unique<DirectTransport>(service_, runtime_, Options());
  auto client = RdmaClient::Create(**client_dev, {transport.get()}, {});
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  std::vector<char> memory(data.size());
  auto buffer = (*client)->RegisterBuffer(memory.data(), memory.size());
  ASSERT_TRUE(buffer.ok());
  bool called = false;
  (*client)->Get("bkt", "big", std::nullopt, *buffer, 0, [&](core::Result<RdmaResult>) { called = true; });
  // Connected and the WRITE under way, not finished.
  runtime_.RunUntil(runtime_.Now() + core::Duration::Milliseconds(1));
  ASSERT_FALSE(called);
  ASSERT_EQ((*rdma)->stats().writes, 0u);
  // The HTTP side goes away; the client's QP stays, so the WRITE completes (and the
  // service's completion runs) after the transport is gone. The client sends nothing more.
  transport.reset();
  runtime_.RunUntil(runtime_.Now() + core::Duration::Milliseconds(20));
  EXPECT_EQ((*rdma)->stats().writes, 1u);  // the late completion did run
  EXPECT_FALSE(called);                    // and reached no one
  EXPECT_EQ(std::string_view(memory.data(), 16), std::string_view(data).substr(0, 16));
  *buffer = RdmaBuffer();
  client->reset();
  service_.SetRdmaServer(nullptr);
}

}  // namespace
}  // namespace s3rdma::proto
