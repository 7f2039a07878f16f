// S3Service driven directly, without sockets, in virtual time: the protocol code path a
// simulator would use (DESIGN.md "One protocol code base, two worlds").
#include <string>

#include <gtest/gtest.h>

#include "core/virtual_runtime.h"
#include "proto/hash.h"
#include "proto/memory_store.h"
#include "proto/s3_service.h"
#include "proto/sigv4.h"

namespace s3rdma::proto {
namespace {

constexpr int64_t kEpoch = 1700000000;
const Credential kCred{"AKIDSERVICE", "service-secret"};

class ServiceTest : public ::testing::Test {
 protected:
  ServiceTest() : service_(Config(), store_, Creds(), runtime_) {}
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
  // Signs at `signed_at` (virtual Unix seconds), runs at the runtime's current time.
  S3Response Call(std::string method, std::string target, std::string body = "",
                  HeaderList extra = {}, int64_t signed_at = -1) {
    HttpRequest req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.headers = std::move(extra);
    req.headers.emplace_back("host", "127.0.0.1:9000");
    req.headers.emplace_back("content-length", std::to_string(body.size()));
    SignRequest(req, kCred, "us-east-1", HexEncode(Sha256(body)),
                signed_at >= 0 ? signed_at : service_.NowUnix());
    auto ex = service_.Start(req);
    if (ex->wants_body()) {
      for (size_t off = 0; off < body.size(); off += 3) {
        if (!ex->OnBody(std::string_view(body).substr(off, 3)).ok()) break;
      }
    }
    return ex->Finish();
  }
  static std::string Body(S3Response& r) {
    if (!r.reader) return r.body;
    std::string out(r.content_length, '\0');
    auto n = r.reader->Read(r.offset, out.data(), out.size());
    EXPECT_TRUE(n.ok());
    return out;
  }

  core::VirtualRuntime runtime_;
  MemoryStore store_{3};
  S3Service service_;
};

TEST_F(ServiceTest, ObjectLifecycleInVirtualTime) {
  EXPECT_EQ(Call("PUT", "/bkt").status, 200);
  auto put = Call("PUT", "/bkt/dir/a%20b", "hello world", {{"x-amz-meta-k", "v"}});
  ASSERT_EQ(put.status, 200) << put.body;
  auto get = Call("GET", "/bkt/dir/a%20b", "", {{"range", "bytes=6-"}});
  EXPECT_EQ(get.status, 206);
  EXPECT_EQ(Body(get), "world");
  auto list = Call("GET", "/bkt?list-type=2&delimiter=/");
  EXPECT_NE(list.body.find("<Prefix>dir/</Prefix>"), std::string::npos) << list.body;
  // Last-Modified comes from the runtime's clock, not the wall clock.
  auto head = Call("HEAD", "/bkt/dir/a%20b");
  bool found = false;
  for (const auto& [k, v] : head.headers) {
    if (k == "last-modified") {
      EXPECT_EQ(v, FormatHttpDate(kEpoch));
      found = true;
    }
    if (k == "x-amz-meta-k") {
      EXPECT_EQ(v, "v");
    }
  }
  EXPECT_TRUE(found);
  EXPECT_FALSE(head.send_body);
  EXPECT_EQ(head.content_length, 11u);
}

TEST_F(ServiceTest, SkewIsJudgedAgainstVirtualTime) {
  EXPECT_EQ(Call("PUT", "/bkt").status, 200);
  runtime_.RunUntil(core::Time::Zero() + core::Duration::Seconds(3600));
  EXPECT_EQ(service_.NowUnix(), kEpoch + 3600);
  auto stale = Call("GET", "/bkt?list-type=2", "", {}, kEpoch);
  EXPECT_EQ(stale.status, 403);
  EXPECT_NE(stale.body.find("RequestTimeTooSkewed"), std::string::npos);
  EXPECT_EQ(Call("GET", "/bkt?list-type=2").status, 200);
}

TEST_F(ServiceTest, MultipartThroughTheService) {
  ASSERT_EQ(Call("PUT", "/bkt").status, 200);
  auto init = Call("POST", "/bkt/mp?uploads");
  ASSERT_EQ(init.status, 200);
  const size_t a = init.body.find("<UploadId>") + 10;
  const std::string id = init.body.substr(a, init.body.find("</UploadId>") - a);
  auto p2 = Call("PUT", "/bkt/mp?partNumber=2&uploadId=" + id, "tail");
  auto p1 = Call("PUT", "/bkt/mp?partNumber=1&uploadId=" + id, "head");
  ASSERT_EQ(p1.status, 200);
  ASSERT_EQ(p2.status, 200);
  const std::string xml = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"" +
                          HexEncode(Md5("head")) + "\"</ETag></Part><Part><PartNumber>2</PartNumber>"
                          "<ETag>" + HexEncode(Md5("tail")) + "</ETag></Part></CompleteMultipartUpload>";
  auto done = Call("POST", "/bkt/mp?uploadId=" + id, xml);
  ASSERT_EQ(done.status, 200) << done.body;
  auto get = Call("GET", "/bkt/mp");
  EXPECT_EQ(Body(get), "headtail");
  EXPECT_EQ(Call("POST", "/bkt/mp?uploadId=" + id, xml).status, 404);
  EXPECT_EQ(Call("POST", "/bkt/mp?uploads", "").status, 200);
  EXPECT_EQ(Call("POST", "/bkt/mp?uploadId=" + id, "<not xml").status, 404);
}

TEST_F(ServiceTest, PayloadHashMismatchStoresNothing) {
  ASSERT_EQ(Call("PUT", "/bkt").status, 200);
  HttpRequest req;
  req.method = "PUT";
  req.target = "/bkt/k";
  req.headers = {{"host", "h"}, {"content-length", "5"}};
  SignRequest(req, kCred, "us-east-1", HexEncode(Sha256("other")), service_.NowUnix());
  auto ex = service_.Start(req);
  ASSERT_TRUE(ex->wants_body());
  ASSERT_TRUE(ex->OnBody("hello").ok());
  auto r = ex->Finish();
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("XAmzContentSHA256Mismatch"), std::string::npos);
  EXPECT_EQ(Call("GET", "/bkt/k").status, 404);
}

}  // namespace
}  // namespace s3rdma::proto
