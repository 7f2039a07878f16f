// The RDMA data path end to end in virtual time: a client QP + registered buffer, the S3
// service and RdmaServer on an in-process fabric. GET / ranged GET / PUT / multipart on
// MemoryStore (zero copy) and FsStore (staged), objects crossing between the RDMA and the
// plain path, packet loss, bounded staging under load, clients that go away mid-transfer.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/proto/rdma_test_world.h"

namespace s3rdma::proto {
namespace {

using testing::ErrorCode;
using testing::HdrOr;
using testing::RandomBytes;
using testing::RdmaWorld;
using testing::WorldOptions;

class RdmaRoundTripTest : public ::testing::TestWithParam<bool> {};

TEST_P(RdmaRoundTripTest, GetRangedGetPutAndCrossPathReads) {
  WorldOptions o;
  o.fs_store = GetParam();
  RdmaWorld w(o);
  core::Rng rng(7);
  ASSERT_EQ(w.Plain("PUT", "/bkt").status, 200);
  emu::QueuePair* qp = w.Connect();
  ASSERT_NE(qp, nullptr);

  // PUT by RDMA (not a multiple of the chunk size), read back over plain HTTP.
  const std::string a = RandomBytes(rng, (3 << 20) + 12345);
  w.Fill(0, a);
  S3Response put = w.RdmaPut(qp, "/bkt/a", 0, a.size(), {{"x-amz-meta-color", "blue"}});
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(HdrOr(put, "x-amz-rdma-reply"), "200");
  EXPECT_EQ(HdrOr(put, "x-amz-rdma-bytes-transferred"), std::to_string(a.size()));
  EXPECT_EQ(HdrOr(put, "etag"), "\"" + HexEncode(Md5(a)) + "\"");
  EXPECT_EQ(w.PlainGet("/bkt/a"), a);

  // Plain PUT, GET by RDMA into another part of the buffer.
  const std::string b = RandomBytes(rng, (2 << 20) + 7);
  ASSERT_EQ(w.Plain("PUT", "/bkt/b", b).status, 200);
  const uint64_t off = 5 << 20;
  S3Response get = w.RdmaGet(qp, "/bkt/b", off, 4 << 20);
  ASSERT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(HdrOr(get, "x-amz-rdma-reply"), "200");
  EXPECT_EQ(HdrOr(get, "x-amz-rdma-bytes-transferred"), std::to_string(b.size()));
  EXPECT_EQ(get.content_length, 0u);
  EXPECT_EQ(get.reader, nullptr);
  EXPECT_TRUE(get.body.empty());
  EXPECT_EQ(HdrOr(get, "etag"), "\"" + HexEncode(Md5(b)) + "\"");
  EXPECT_EQ(w.Buf(off, b.size()), b);
  // Nothing beyond the object was written.
  EXPECT_EQ(w.Buf(off + b.size(), 16), std::string(16, '\0'));

  // Ranged GET by RDMA: 206, Content-Range, exactly the range.
  const uint64_t roff = 12 << 20;
  S3Response ranged = w.RdmaGet(qp, "/bkt/a", roff, 1 << 20, {{"range", "bytes=1000-700999"}});
  ASSERT_EQ(ranged.status, 206) << ranged.body;
  EXPECT_EQ(HdrOr(ranged, "x-amz-rdma-reply"), "206");
  EXPECT_EQ(HdrOr(ranged, "x-amz-rdma-bytes-transferred"), "700000");
  EXPECT_EQ(HdrOr(ranged, "content-range"), "bytes 1000-700999/" + std::to_string(a.size()));
  EXPECT_EQ(w.Buf(roff, 700000), a.substr(1000, 700000));
  EXPECT_EQ(HdrOr(ranged, "x-amz-meta-color"), "blue");

  // An empty object both ways.
  S3Response empty_put = w.RdmaPut(qp, "/bkt/empty", 0, 0);
  ASSERT_EQ(empty_put.status, 200) << empty_put.body;
  EXPECT_EQ(w.PlainGet("/bkt/empty"), "");
  S3Response empty_get = w.RdmaGet(qp, "/bkt/empty", 0, 16);
  ASSERT_EQ(empty_get.status, 200) << empty_get.body;
  EXPECT_EQ(HdrOr(empty_get, "x-amz-rdma-bytes-transferred"), "0");

  // MemoryStore objects go zero copy; FsStore objects through staging.
  const RdmaServerStats& st = w.rdma_->stats();
  EXPECT_EQ(st.writes, 3u);
  EXPECT_EQ(st.reads, 2u);
  EXPECT_EQ(st.zero_copy_writes, GetParam() ? 0u : 2u);
  EXPECT_EQ(w.rdma_->staging_chunks_free(), w.rdma_->staging_chunks_total());
}

INSTANTIATE_TEST_SUITE_P(Stores, RdmaRoundTripTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "FsStore" : "MemoryStore"; });

TEST(RdmaServerTest, MultipartUploadFromRegisteredBuffer) {
  for (bool fs : {false, true}) {
    SCOPED_TRACE(fs ? "FsStore" : "MemoryStore");
    WorldOptions o;
    o.fs_store = fs;
    RdmaWorld w(o);
    core::Rng rng(11);
    ASSERT_EQ(w.Plain("PUT", "/bkt").status, 200);
    emu::QueuePair* qp = w.Connect();
    ASSERT_NE(qp, nullptr);
    S3Response init = w.Plain("POST", "/bkt/big?uploads");
    ASSERT_EQ(init.status, 200) << init.body;
    const size_t a = init.body.find("<UploadId>"), b = init.body.find("</UploadId>");
    const std::string upload = init.body.substr(a + 10, b - a - 10);
    const std::string p1 = RandomBytes(rng, 1 << 20), p2 = RandomBytes(rng, 333333);
    w.Fill(0, p1);
    w.Fill(2 << 20, p2);
    S3Response r1 = w.RdmaPut(qp, "/bkt/big?partNumber=1&uploadId=" + upload, 0, p1.size());
    ASSERT_EQ(r1.status, 200) << r1.body;
    EXPECT_EQ(HdrOr(r1, "x-amz-rdma-reply"), "200");
    S3Response r2 = w.RdmaPut(qp, "/bkt/big?partNumber=2&uploadId=" + upload, 2 << 20, p2.size());
    ASSERT_EQ(r2.status, 200) << r2.body;
    const std::string xml = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" +
                            HdrOr(r1, "etag") + "</ETag></Part><Part><PartNumber>2</PartNumber><ETag>" +
                            HdrOr(r2, "etag") + "</ETag></Part></CompleteMultipartUpload>";
    S3Response done = w.Plain("POST", "/bkt/big?uploadId=" + upload, xml);
    ASSERT_EQ(done.status, 200) << done.body;
    EXPECT_EQ(w.PlainGet("/bkt/big"), p1 + p2);
    // And the whole object back by RDMA.
    S3Response get = w.RdmaGet(qp, "/bkt/big", 8 << 20, 2 << 20);
    ASSERT_EQ(get.status, 200) << get.body;
    EXPECT_EQ(w.Buf(8 << 20, p1.size() + p2.size()), p1 + p2);
  }
}

// Every request completes with the right bytes although the fabric drops packets.
TEST(RdmaServerTest, LossyFabricEveryRequestCompletes) {
  for (double loss : {0.01, 0.05}) {
    for (uint64_t seed : {1, 2}) {
      const std::string trace = "loss " + std::to_string(loss) + " seed " + std::to_string(seed);
      SCOPED_TRACE(trace);
      WorldOptions o;
      o.seed = seed;
      o.faults.drop_probability = loss;
      o.fs_store = seed == 2;
      RdmaWorld w(o);
      core::Rng rng(seed * 100);
      ASSERT_EQ(w.Plain("PUT", "/bkt").status, 200);
      emu::QueuePair* qp = w.Connect();
      ASSERT_NE(qp, nullptr);
      for (int i = 0; i < 3; ++i) {
        const std::string key = "/bkt/k" + std::to_string(i);
        const std::string data = RandomBytes(rng, (1 << 20) + 4096 * i + 17);
        w.Fill(0, data);
        S3Response put = w.RdmaPut(qp, key, 0, data.size());
        ASSERT_EQ(put.status, 200) << trace << " " << put.body;
        S3Response get = w.RdmaGet(qp, key, 4 << 20, 4 << 20, {{"range", "bytes=100-"}});
        ASSERT_EQ(get.status, 206) << trace << " " << get.body;
        ASSERT_EQ(w.Buf(4 << 20, data.size() - 100), data.substr(100)) << trace;
        ASSERT_EQ(w.PlainGet(key), data) << trace;
      }
      EXPECT_GT(w.fabric_.stats().dropped, 0u) << trace;
    }
  }
}

// Many concurrent FsStore GETs with a staging pool of 4 chunks: they queue for chunks
// (FIFO) instead of growing memory, and all complete with the right bytes.
TEST(RdmaServerTest, StagingIsBoundedUnderConcurrentGets) {
  WorldOptions o;
  o.fs_store = true;
  o.rdma.chunk_bytes = 64 << 10;
  o.rdma.staging_bytes = 4 * (64 << 10);
  o.rdma.max_requests_per_connection = 4;
  RdmaWorld w(o);
  core::Rng rng(3);
  ASSERT_EQ(w.Plain("PUT", "/bkt").status, 200);
  std::vector<std::string> objs;
  for (int i = 0; i < 4; ++i) {
    objs.push_back(RandomBytes(rng, (512 << 10) + 999 * i));
    ASSERT_EQ(w.Plain("PUT", "/bkt/o" + std::to_string(i), objs.back()).status, 200);
  }
  emu::QueuePair* qp1 = w.Connect();
  emu::QueuePair* qp2 = w.Connect();
  ASSERT_TRUE(qp1 && qp2);
  constexpr int kRequests = 16;
  std::vector<std::optional<S3Response>> out(kRequests);
  std::vector<std::unique_ptr<S3Exchange>> ex;
  for (int i = 0; i < kRequests; ++i) {
    emu::QueuePair* qp = i % 2 ? qp2 : qp1;
    ex.push_back(w.StartExchange(
        w.RdmaRequest("GET", "/bkt/o" + std::to_string(i % 4), w.Token(qp, uint64_t(i) << 20, 1 << 20)),
        {}, &out[i]));
  }
  std::vector<std::optional<S3Response>*> outs;
  for (auto& o2 : out) outs.push_back(&o2);
  ASSERT_TRUE(w.RunUntilReplies(outs));
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_EQ(out[i]->status, 200) << i << " " << out[i]->body;
    EXPECT_EQ(w.Buf(uint64_t(i) << 20, objs[i % 4].size()), objs[i % 4]) << i;
  }
  const RdmaServerStats& st = w.rdma_->stats();
  EXPECT_LE(st.staging_chunks_peak, 4u);
  EXPECT_GT(st.staging_waits, 0u);
  EXPECT_GT(st.requests_queued, 0u);  // 8 per connection, 4 run at once
  EXPECT_EQ(w.rdma_->staging_chunks_free(), 4u);
}

// Concurrent PUTs (RDMA READ into staging) with a pool smaller than their data: every
// object is stored intact, staging never exceeds its bound.
TEST(RdmaServerTest, StagingIsBoundedUnderConcurrentPuts) {
  for (bool fs : {false, true}) {
    SCOPED_TRACE(fs ? "FsStore" : "MemoryStore");
    WorldOptions o;
    o.fs_store = fs;
    o.rdma.chunk_bytes = 64 << 10;
    o.rdma.staging_bytes = 3 * (64 << 10);
    RdmaWorld w(o);
    core::Rng rng(21);
    ASSERT_EQ(w.Plain("PUT", "/bkt").status, 200);
    emu::QueuePair* qp = w.Connect();
    ASSERT_NE(qp, nullptr);
    constexpr int kRequests = 10;
    std::vector<std::string> objs;
    for (int i = 0; i < kRequests; ++i) {
      objs.push_back(RandomBytes(rng, (300 << 10) + 4093 * i));
      w.Fill(uint64_t(i) << 20, objs.back());
    }
    std::vector<std::optional<S3Response>> out(kRequests);
    std::vector<std::unique_ptr<S3Exchange>> ex;
    for (int i = 0; i < kRequests; ++i) {
      ex.push_back(w.StartExchange(w.RdmaRequest("PUT", "/bkt/p" + std::to_string(i),
                                                 w.Token(qp, uint64_t(i) << 20, objs[i].size())),
                                   {}, &out[i]));
    }
    std::vector<std::optional<S3Response>*> outs;
    for (auto& o2 : out) outs.push_back(&o2);
    ASSERT_TRUE(w.RunUntilReplies(outs));
    for (int i = 0; i < kRequests; ++i) {
      ASSERT_EQ(out[i]->status, 200) << i << " " << out[i]->body;
      EXPECT_EQ(w.PlainGet("/bkt/p" + std::to_string(i)), objs[i]) << i;
    }
    EXPECT_LE(w.rdma_->stats().staging_chunks_peak, 3u);
    EXPECT_GT(w.rdma_->stats().staging_waits, 0u);
    EXPECT_EQ(w.rdma_->staging_chunks_free(), 3u);
  }
}

// Same seed, same run: the server adds no nondeterminism to the virtual-time world.
TEST(RdmaServerTest, SameSeedSameTrace) {
  auto run = [](uint64_t seed) {
    WorldOptions o;
    o.seed = seed;
    o.faults.drop_probability = 0.02;
    o.faults.reorder_probability = 0.02;
    RdmaWorld w(o);
    core::Rng rng(seed);
    S3_CHECK(w.Plain("PUT", "/bkt").status == 200);
    emu::QueuePair* qp = w.Connect();
    S3_CHECK(qp != nullptr);
    const std::string data = RandomBytes(rng, 700000);
    w.Fill(0, data);
    S3_CHECK(w.RdmaPut(qp, "/bkt/x", 0, data.size()).status == 200);
    S3_CHECK(w.RdmaGet(qp, "/bkt/x", 1 << 20, 1 << 20).status == 200);
    return std::make_pair(w.rt_.TraceHash(), w.rt_.Now());
  };
  for (uint64_t seed : {3, 4}) {
    EXPECT_EQ(run(seed), run(seed)) << "seed " << seed;
  }
}

// The client goes away (the exchange is destroyed) mid-transfer: nothing dangles, staging
// comes back, a PUT is not stored, and the next request works.
TEST(RdmaServerTest, ExchangeDestroyedMidTransfer) {
  for (bool fs : {false, true}) {
    SCOPED_TRACE(fs ? "FsStore" : "MemoryStore");
    WorldOptions o;
    o.fs_store = fs;
    RdmaWorld w(o);
    core::Rng rng(5);
    ASSERT_EQ(w.Plain("PUT", "/bkt").status, 200);
    const std::string data = RandomBytes(rng, 6 << 20);
    ASSERT_EQ(w.Plain("PUT", "/bkt/obj", data).status, 200);
    emu::QueuePair* qp = w.Connect();
    ASSERT_NE(qp, nullptr);
    {
      std::optional<S3Response> out;
      auto ex = w.StartExchange(w.RdmaRequest("GET", "/bkt/obj", w.Token(qp, 0, 8 << 20)), {}, &out);
      w.rt_.RunEvents(2000);
      ASSERT_FALSE(out.has_value());
      ex.reset();
      w.rt_.RunUntil(w.rt_.Now() + core::Duration::Seconds(1));
      EXPECT_FALSE(out.has_value());
    }
    {
      w.Fill(0, RandomBytes(rng, 6 << 20));
      std::optional<S3Response> out;
      auto ex = w.StartExchange(w.RdmaRequest("PUT", "/bkt/new", w.Token(qp, 0, 6 << 20)), {}, &out);
      w.rt_.RunEvents(2000);
      ASSERT_FALSE(out.has_value());
      ex.reset();
      w.rt_.RunUntil(w.rt_.Now() + core::Duration::Seconds(1));
      EXPECT_FALSE(out.has_value());
    }
    EXPECT_EQ(w.rdma_->staging_chunks_free(), w.rdma_->staging_chunks_total());
    EXPECT_EQ(ErrorCode(w.Plain("GET", "/bkt/new")), "NoSuchKey");
    S3Response get = w.RdmaGet(qp, "/bkt/obj", 8 << 20, 8 << 20);
    ASSERT_EQ(get.status, 200) << get.body;
    EXPECT_EQ(w.Buf(8 << 20, data.size()), data);
  }
}

TEST(RdmaServerTest, IdleConnectionsAreClosed) {
  WorldOptions o;
  o.rdma.idle_timeout = core::Duration::Seconds(2);
  RdmaWorld w(o);
  ASSERT_EQ(w.Plain("PUT", "/bkt").status, 200);
  ASSERT_EQ(w.Plain("PUT", "/bkt/x", "xyz").status, 200);
  emu::QueuePair* qp = w.Connect();
  ASSERT_NE(qp, nullptr);
  EXPECT_EQ(w.RdmaGet(qp, "/bkt/x", 0, 3).status, 200);
  w.rt_.RunUntil(w.rt_.Now() + core::Duration::Seconds(1));
  EXPECT_EQ(w.rdma_->connection_count(), 1u);
  w.rt_.RunUntil(w.rt_.Now() + core::Duration::Seconds(3));
  EXPECT_EQ(w.rdma_->connection_count(), 0u);
  EXPECT_EQ(w.rdma_->stats().connections_idle_closed, 1u);
  S3Response r = w.RdmaGet(qp, "/bkt/x", 0, 3);
  EXPECT_EQ(r.status, 501);
  EXPECT_EQ(ErrorCode(r), "RDMAConnectionNotFound");
}

}  // namespace
}  // namespace s3rdma::proto
