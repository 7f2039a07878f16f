// The RDMA data path behind the real HTTP server (Beast, loopback TCP, real time): the
// server awaits S3Exchange::FinishAsync while the RDMA transfer runs, without blocking its
// other connections. The RDMA side uses the in-process fabric on the same RealRuntime, so
// the test can stall the fabric and heal it.
#include <string>

#include <gtest/gtest.h>

#include "core/real_runtime.h"
#include "core/rng.h"
#include "emu/inproc_fabric.h"
#include "emu/verbs.h"
#include "proto/http_server.h"
#include "proto/memory_store.h"
#include "proto/rdma_server.h"
#include "proto/rdma_token.h"
#include "proto/s3_client.h"
#include "proto/s3_service.h"

namespace s3rdma::proto {
namespace {

constexpr int64_t kEpoch = 1700000000;
const Credential kCred{"AKIDHTTP", "http-secret"};

template <typename T>
T Must(core::Result<T> r) {
  S3_CHECK_MSG(r.ok(), r.status().ToString());
  return std::move(r).value();
}

ClientRequest Req(std::string method, std::string bucket = "", std::string key = "",
                  std::string body = "") {
  ClientRequest r;
  r.method = std::move(method);
  r.bucket = std::move(bucket);
  r.key = std::move(key);
  r.body = std::move(body);
  return r;
}

TEST(RdmaHttpServerTest, RdmaGetAwaitsTransferWithoutBlockingOtherConnections) {
  core::RealRuntime rt;
  emu::InProcConfig fc;
  fc.latency = core::Duration::Microseconds(2);
  emu::InProcFabric fabric(rt, fc);
  auto sdev = Must(emu::Device::Open(fabric, {emu::Ipv4(10, 0, 0, 1), emu::kRoceUdpPort}));
  auto cdev = Must(emu::Device::Open(fabric, {emu::Ipv4(10, 0, 0, 2), emu::kRoceUdpPort}));
  MemoryStore store(1);
  ServiceConfig sc;
  sc.unix_time_at_runtime_zero = kEpoch;
  CredentialStore creds;
  creds.Add(kCred);
  S3Service service(sc, store, creds, rt);
  RdmaServerOptions ro;  // ack timeout 67 ms x 7 retries: the stall below stays far from RETRY_EXC
  auto rdma = Must(RdmaServer::Create(*sdev, ro));
  service.SetRdmaServer(rdma.get());
  HttpServer http(rt, service, {});
  ASSERT_TRUE(http.Start().ok());
  ClientOptions co;
  co.port = http.port();
  co.credential = kCred;
  co.unix_time_at_runtime_zero = kEpoch;
  S3Client c1(rt, co), c2(rt, co);

  // Client verbs objects: a buffer and an RC QP.
  auto pd = Must(cdev->AllocPd());
  auto cq = Must(cdev->CreateCq(256));
  std::string buf(4 << 20, '\0');
  auto mr = Must(pd->RegisterMemory(buf.data(), buf.size(),
                                    emu::kAccessLocalWrite | emu::kAccessRemoteWrite |
                                        emu::kAccessRemoteRead));
  emu::QpInitAttr init;
  init.send_cq = cq.get();
  init.recv_cq = cq.get();
  auto qp = Must(pd->CreateQp(init));
  emu::QpAttr a;
  a.qp_state = emu::QpState::kInit;
  a.qp_access_flags = emu::kAccessRemoteWrite | emu::kAccessRemoteRead;
  ASSERT_EQ(qp->Modify(a, emu::kQpAttrState | emu::kQpAttrAccessFlags), 0);

  core::Rng rng(2);
  std::string data(3 << 20, '\0');
  for (char& ch : data) ch = static_cast<char>(rng.NextU64());
  auto send = [&](ClientRequest req) { return SendAndWait(rt, c1, std::move(req)); };
  ASSERT_TRUE(send(Req("PUT", "bkt")).ok());
  ASSERT_TRUE(send(Req("PUT", "bkt", "big", data)).ok());
  ASSERT_TRUE(send(Req("PUT", "bkt", "small", "tiny")).ok());

  // Connect (section 1 of docs/protocol.md) over real HTTP.
  RcConnectParams mine;
  mine.qpn = qp->qp_num();
  mine.psn = 0x1234;
  mine.gid = cdev->gid();
  mine.udp_port = cdev->address().udp_port;
  mine.mtu = emu::Mtu::k4096;
  ClientRequest connect = Req("POST");
  connect.query = {{"rdmaConnect", ""}};
  connect.headers = {{std::string(kRcConnectHeader), FormatRcConnectHeader(mine)}};
  auto reply = send(std::move(connect));
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  ASSERT_NE(reply->Header(kRcConnectHeader), nullptr);
  auto server = Must(ParseRcConnectHeader(*reply->Header(kRcConnectHeader)));
  a.qp_state = emu::QpState::kRtr;
  a.path_mtu = server.mtu;
  a.dest_qp_num = server.qpn;
  a.dest_gid = server.gid;
  a.dest_udp_port = server.udp_port;
  a.rq_psn = server.psn;
  a.max_dest_rd_atomic = 4;
  ASSERT_EQ(qp->Modify(a, emu::kQpAttrState | emu::kQpAttrAv | emu::kQpAttrPathMtu |
                              emu::kQpAttrDestQpn | emu::kQpAttrRqPsn |
                              emu::kQpAttrMaxDestRdAtomic | emu::kQpAttrMinRnrTimer),
            0);
  a.qp_state = emu::QpState::kRts;
  a.sq_psn = mine.psn;
  ASSERT_EQ(qp->Modify(a, emu::kQpAttrState | emu::kQpAttrSqPsn | emu::kQpAttrTimeout |
                              emu::kQpAttrRetryCnt | emu::kQpAttrRnrRetry |
                              emu::kQpAttrMaxQpRdAtomic),
            0);

  // Stall the fabric, start an RDMA GET on one connection and a plain GET on another: the
  // plain one completes while the RDMA one waits; then heal the fabric.
  emu::FaultConfig stall;
  stall.drop_probability = 1.0;
  fabric.SetFaults(stall);
  RcDescriptor d;
  d.qpn = qp->qp_num();
  d.gid = cdev->gid();
  d.rkey = mr->rkey();
  d.addr = reinterpret_cast<uint64_t>(buf.data());
  d.length = buf.size();
  int order = 0, rdma_order = 0, plain_order = 0;
  std::optional<core::Result<ClientResponse>> rdma_reply;
  ClientRequest get = Req("GET", "bkt", "big");
  get.headers = {{std::string(kRdmaTokenHeader), FormatRdmaToken(d, false, 0, 0)},
                 {"x-amz-content-sha256", "UNSIGNED-PAYLOAD"}};
  get.return_error_responses = true;
  c1.Send(std::move(get),
          [&](core::Result<ClientResponse> r) {
            rdma_order = ++order;
            rdma_reply = std::move(r);
          });
  std::string plain_body;
  c2.Send(Req("GET", "bkt", "small"),
          [&](core::Result<ClientResponse> r) {
            plain_order = ++order;
            if (r.ok()) plain_body = r->body;
            fabric.SetFaults({});  // heal: the server's retransmissions now get through
          });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!rdma_reply && std::chrono::steady_clock::now() < deadline) {
    rt.RunFor(core::Duration::Milliseconds(10));
  }
  ASSERT_TRUE(rdma_reply.has_value()) << "no RDMA reply within 20 s";
  EXPECT_EQ(plain_order, 1);
  EXPECT_EQ(rdma_order, 2);
  EXPECT_EQ(plain_body, "tiny");
  ASSERT_TRUE(rdma_reply->ok()) << rdma_reply->status().ToString();
  const ClientResponse& r = **rdma_reply;
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.body.empty());
  ASSERT_NE(r.Header(kRdmaReplyHeader), nullptr);
  EXPECT_EQ(*r.Header(kRdmaReplyHeader), "200");
  EXPECT_EQ(*r.Header(kRdmaBytesHeader), std::to_string(data.size()));
  EXPECT_EQ(buf.substr(0, data.size()), data);
  EXPECT_GT(fabric.stats().dropped, 0u);

  http.Stop();
  service.SetRdmaServer(nullptr);
  qp.reset();
  mr.reset();
  cq.reset();
  pd.reset();
  rdma.reset();
}

}  // namespace
}  // namespace s3rdma::proto
