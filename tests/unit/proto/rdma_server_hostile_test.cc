// Hostile and failing RDMA requests: each gets the documented status and code (and
// x-amz-rdma-reply: 501), nothing is stored or corrupted, the server stays up and the next
// request on the same server succeeds.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/proto/rdma_test_world.h"

namespace s3rdma::proto {
namespace {

using testing::ErrorCode;
using testing::HdrOr;
using testing::kCred;
using testing::kOtherCred;
using testing::RandomBytes;
using testing::RdmaWorld;
using testing::WorldOptions;

class HostileTest : public ::testing::TestWithParam<bool> {
 protected:
  HostileTest() : w_(Options()) {}
  static WorldOptions Options() {
    WorldOptions o;
    o.fs_store = GetParam();  // staged transfers instead of zero copy
    o.rdma.max_connections = 6;
    o.rdma.ack_timeout = 10;  // 4 ms: a dead peer is detected quickly (virtual time anyway)
    return o;
  }
  void SetUp() override {
    core::Rng rng(9);
    data_ = RandomBytes(rng, (1 << 20) + 333);
    ASSERT_EQ(w_.Plain("PUT", "/bkt").status, 200);
    ASSERT_EQ(w_.Plain("PUT", "/bkt/obj", data_).status, 200);
    qp_ = w_.Connect();
    ASSERT_NE(qp_, nullptr);
  }
  // Expects `r` to be the documented error; then proves the server still serves an RDMA GET
  // on a connected QP (reconnecting if `reconnect`) and plain requests.
  void ExpectErrorThenRecovery(const S3Response& r, int status, const std::string& code,
                               bool reconnect = false) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(ErrorCode(r), code) << r.body;
    EXPECT_EQ(HdrOr(r, "x-amz-rdma-reply"), "501");
    if (reconnect) qp_ = w_.Connect();
    ASSERT_NE(qp_, nullptr);
    const uint64_t off = 8 << 20;
    std::fill(w_.buf_.begin() + off, w_.buf_.begin() + off + data_.size(), '\0');
    S3Response ok = w_.RdmaGet(qp_, "/bkt/obj", off, 2 << 20);
    ASSERT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(w_.Buf(off, data_.size()), data_);
    EXPECT_EQ(w_.PlainGet("/bkt/obj"), data_);
  }
  S3Response GetWithToken(const std::string& token, HeaderList extra = {}) {
    return w_.Send(w_.RdmaRequest("GET", "/bkt/obj", token, std::move(extra)));
  }

  RdmaWorld w_;
  std::string data_;
  emu::QueuePair* qp_ = nullptr;
};

TEST_P(HostileTest, MalformedTokens) {
  const std::string good = w_.Token(qp_, 0, 2 << 20);
  std::string upper = good;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const uint64_t base = reinterpret_cast<uint64_t>(w_.buf_.data());
  const std::vector<std::string> bad = {
      upper,
      good.substr(0, 87),
      good.substr(0, 88) + "0",
      good.substr(0, 88) + ":zz",
      good.substr(0, 88) + "-" + good.substr(89),
      // Suffix outside the descriptor's region.
      FormatRdmaToken(w_.Descriptor(qp_), true, base - 4096, 4096),
      FormatRdmaToken(w_.Descriptor(qp_), true, base + w_.buf_.size() - 100, 4096),
  };
  for (const std::string& token : bad) {
    SCOPED_TRACE(token);
    S3Response r = GetWithToken(token);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(ErrorCode(r), "InvalidRDMAToken");
    EXPECT_EQ(HdrOr(r, "x-amz-rdma-reply"), "501");
  }
  RcDescriptor dc = w_.Descriptor(qp_);
  dc.transport = 2;
  S3Response r = GetWithToken(FormatRdmaToken(dc, false, 0, 0));
  EXPECT_EQ(ErrorCode(r), "InvalidRDMAToken");
  ExpectErrorThenRecovery(GetWithToken(upper), 400, "InvalidRDMAToken");
}

TEST_P(HostileTest, CuObjectDcTokenIsDeclined) {
  const std::string dc =
      "00007f3a5c000000:00100000:0000015a:0000:000123:1:00000000000000000000ffff0a000002";
  S3Response r = GetWithToken(dc);
  EXPECT_NE(r.body.find("DC transport is not supported"), std::string::npos) << r.body;
  ExpectErrorThenRecovery(r, 501, "NotImplemented");
}

TEST_P(HostileTest, TokenMustBeSigned) {
  HttpRequest req = w_.Request("GET", "/bkt/obj");
  w_.Sign(req);
  req.headers.emplace_back(std::string(kRdmaTokenHeader), w_.Token(qp_, 0, 2 << 20));
  ExpectErrorThenRecovery(w_.Send(std::move(req)), 403, "AccessDenied");
}

TEST_P(HostileTest, UnknownQpnAndAnotherKeysQpn) {
  RcDescriptor d = w_.Descriptor(qp_);
  d.qpn = 0x777;
  ExpectErrorThenRecovery(GetWithToken(FormatRdmaToken(d, false, 0, 0)), 501,
                          "RDMAConnectionNotFound");
  // A request signed by another access key naming this key's QP.
  HttpRequest req = w_.Request("GET", "/bkt/obj",
                               {{std::string(kRdmaTokenHeader), w_.Token(qp_, 0, 2 << 20)}});
  w_.Sign(req, kOtherCred);
  ExpectErrorThenRecovery(w_.Send(std::move(req)), 501, "RDMAConnectionNotFound");
  // Nor may the other key disconnect it.
  HttpRequest del = w_.Request("DELETE", "/?rdmaConnect",
                               {{std::string(kRcConnectHeader),
                                 FormatRcConnectHeader(w_.ClientParams(qp_))}});
  w_.Sign(del, kOtherCred, HexEncode(Sha256("")));
  S3Response dr = w_.Send(std::move(del));
  ExpectErrorThenRecovery(dr, 501, "RDMAConnectionNotFound");
}

TEST_P(HostileTest, BufferTooSmallAndOversizeRange) {
  ExpectErrorThenRecovery(GetWithToken(w_.Token(qp_, 0, data_.size() - 1)), 400,
                          "RDMABufferTooSmall");
  S3Response r = GetWithToken(w_.Token(qp_, 0, 1000), {{"range", "bytes=0-1000"}});
  ExpectErrorThenRecovery(r, 400, "RDMABufferTooSmall");
  // Exactly large enough is fine.
  S3Response ok = GetWithToken(w_.Token(qp_, 0, 1001), {{"range", "bytes=0-1000"}});
  EXPECT_EQ(ok.status, 206) << ok.body;
  // A PUT larger than the object limit (5 GiB): refused before any RDMA READ.
  RcDescriptor d = w_.Descriptor(qp_);
  d.length = 6ull << 30;
  S3Response big = w_.Send(w_.RdmaRequest("PUT", "/bkt/huge", FormatRdmaToken(d, false, 0, 0)));
  EXPECT_EQ(ErrorCode(w_.Plain("GET", "/bkt/huge")), "NoSuchKey");
  ExpectErrorThenRecovery(big, 400, "EntityTooLarge");
}

TEST_P(HostileTest, PutWithTokenAndBody) {
  HttpRequest req = w_.Request("PUT", "/bkt/withbody",
                               {{std::string(kRdmaTokenHeader), w_.Token(qp_, 0, 5)}}, 5);
  w_.Sign(req, kCred, HexEncode(Sha256("hello")));
  S3Response r = w_.Send(std::move(req), "hello");
  EXPECT_EQ(ErrorCode(w_.Plain("GET", "/bkt/withbody")), "NoSuchKey");
  ExpectErrorThenRecovery(r, 400, "InvalidRequest");
}

TEST_P(HostileTest, WrongRkeyFailsCleanlyAndReconnectWorks) {
  RcDescriptor d = w_.Descriptor(qp_);
  d.rkey += 1;
  const uint64_t base = reinterpret_cast<uint64_t>(w_.buf_.data());
  // GET: the client's NIC refuses the WRITE (remote access error).
  S3Response r = GetWithToken(FormatRdmaToken(d, true, base, 2 << 20));
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_EQ(ErrorCode(r), "RDMATransferFailed");
  EXPECT_EQ(w_.rdma_->connection_count(), 0u);
  // The old QP is gone on the server too.
  S3Response stale = w_.RdmaGet(qp_, "/bkt/obj", 0, 2 << 20);
  EXPECT_EQ(ErrorCode(stale), "RDMAConnectionNotFound");
  ExpectErrorThenRecovery(r, 500, "RDMATransferFailed", /*reconnect=*/true);

  // PUT with a wrong rkey over an existing object: nothing is stored, the old one stays.
  d = w_.Descriptor(qp_);
  d.rkey ^= 0x100;
  w_.Fill(0, std::string(4096, 'x'));
  S3Response put = w_.Send(w_.RdmaRequest("PUT", "/bkt/obj", FormatRdmaToken(d, true, base, 4096)));
  EXPECT_EQ(put.status, 500) << put.body;
  EXPECT_EQ(ErrorCode(put), "RDMATransferFailed");
  ExpectErrorThenRecovery(put, 500, "RDMATransferFailed", /*reconnect=*/true);
}

TEST_P(HostileTest, ClientQpKilledMidTransfer) {
  core::Rng rng(4);
  const std::string big = RandomBytes(rng, 6 << 20);
  ASSERT_EQ(w_.Plain("PUT", "/bkt/big", big).status, 200);
  emu::QpAttr err;
  err.qp_state = emu::QpState::kErr;
  // GET: the client's QP goes to ERR while the WRITEs stream.
  {
    std::optional<S3Response> out;
    auto ex = w_.StartExchange(w_.RdmaRequest("GET", "/bkt/big", w_.Token(qp_, 0, 8 << 20)), {}, &out);
    w_.rt_.RunEvents(3000);
    ASSERT_FALSE(out.has_value());
    ASSERT_EQ(qp_->Modify(err, emu::kQpAttrState), 0);
    ASSERT_TRUE(w_.RunUntilReplies({&out}));
    EXPECT_EQ(out->status, 500) << out->body;
    EXPECT_EQ(ErrorCode(*out), "RDMATransferFailed");
  }
  qp_ = w_.Connect();
  ASSERT_NE(qp_, nullptr);
  // PUT: killed while the server READs; the object must not exist afterwards.
  {
    w_.Fill(0, big);
    std::optional<S3Response> out;
    auto ex = w_.StartExchange(w_.RdmaRequest("PUT", "/bkt/partial", w_.Token(qp_, 0, big.size())),
                               {}, &out);
    w_.rt_.RunEvents(3000);
    ASSERT_FALSE(out.has_value());
    ASSERT_EQ(qp_->Modify(err, emu::kQpAttrState), 0);
    ASSERT_TRUE(w_.RunUntilReplies({&out}));
    EXPECT_EQ(ErrorCode(*out), "RDMATransferFailed");
    EXPECT_EQ(ErrorCode(w_.Plain("GET", "/bkt/partial")), "NoSuchKey");
    ExpectErrorThenRecovery(*out, 500, "RDMATransferFailed", /*reconnect=*/true);
  }
  EXPECT_EQ(w_.rdma_->staging_chunks_free(), w_.rdma_->staging_chunks_total());
  EXPECT_EQ(w_.PlainGet("/bkt/big"), big);
}

TEST_P(HostileTest, ConnectExchangeErrors) {
  // Conflict: the same (gid, qpn) again.
  S3Response again = w_.ConnectRequest(qp_);
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(ErrorCode(again), "RDMAConnectionConflict");
  EXPECT_EQ(HdrOr(again, "x-amz-rdma-reply"), "501");
  // Malformed header.
  emu::QueuePair* fresh = w_.NewQp();
  S3Response bad = w_.ConnectRequest(fresh, kCred, std::string("v=1;qpn=11"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(ErrorCode(bad), "InvalidArgument");
  // The connect header must be signed.
  HttpRequest unsigned_req = w_.Request("POST", "/?rdmaConnect");
  w_.Sign(unsigned_req, kCred, HexEncode(Sha256("")));
  unsigned_req.headers.emplace_back(std::string(kRcConnectHeader),
                                    FormatRcConnectHeader(w_.ClientParams(fresh)));
  EXPECT_EQ(ErrorCode(w_.Send(std::move(unsigned_req))), "AccessDenied");
  // Flood: the limit is 6 connections; the 7th gets 503 SlowDown.
  std::vector<emu::QueuePair*> qps = {qp_};
  for (int i = 0; i < 5; ++i) qps.push_back(w_.Connect());
  emu::QueuePair* extra = w_.NewQp();
  S3Response flood = w_.ConnectRequest(extra);
  EXPECT_EQ(flood.status, 503);
  EXPECT_EQ(ErrorCode(flood), "SlowDown");
  EXPECT_EQ(w_.rdma_->connection_count(), 6u);
  // The owner disconnects one (204); then a connect succeeds again.
  HttpRequest del = w_.Request("DELETE", "/?rdmaConnect",
                               {{std::string(kRcConnectHeader),
                                 FormatRcConnectHeader(w_.ClientParams(qps.back()))}});
  w_.Sign(del, kCred, HexEncode(Sha256("")));
  EXPECT_EQ(w_.Send(std::move(del)).status, 204);
  ExpectErrorThenRecovery(flood, 503, "SlowDown");
  EXPECT_NE(w_.Connect(), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Stores, HostileTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "FsStore" : "MemoryStore"; });

TEST(RdmaNoFabricTest, TokenAndConnectAnswer501AndPlainStillWorks) {
  WorldOptions o;
  o.with_rdma = false;
  RdmaWorld w(o);
  ASSERT_EQ(w.Plain("PUT", "/bkt").status, 200);
  ASSERT_EQ(w.Plain("PUT", "/bkt/obj", "abc").status, 200);
  emu::QueuePair* qp = w.NewQp();
  S3Response c = w.ConnectRequest(qp);
  EXPECT_EQ(c.status, 501);
  EXPECT_EQ(ErrorCode(c), "NotImplemented");
  EXPECT_EQ(HdrOr(c, "x-amz-rdma-reply"), "501");
  S3Response g = w.RdmaGet(qp, "/bkt/obj", 0, 16);
  EXPECT_EQ(g.status, 501);
  EXPECT_EQ(HdrOr(g, "x-amz-rdma-reply"), "501");
  // A body-less PUT is never stored as an empty object.
  S3Response p = w.RdmaPut(qp, "/bkt/obj", 0, 16);
  EXPECT_EQ(p.status, 501);
  EXPECT_EQ(w.PlainGet("/bkt/obj"), "abc");
  // Ordinary errors on token requests are tagged too.
  S3Response missing = w.RdmaGet(qp, "/bkt/none", 0, 16);
  EXPECT_EQ(ErrorCode(missing), "NoSuchKey");
  EXPECT_EQ(HdrOr(missing, "x-amz-rdma-reply"), "501");
}

}  // namespace
}  // namespace s3rdma::proto
