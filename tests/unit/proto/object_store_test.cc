#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "core/rng.h"
#include "proto/fs_store.h"
#include "proto/hash.h"
#include "proto/memory_store.h"
#include "proto/s3_error.h"

namespace s3rdma::proto {
namespace {
namespace fs = std::filesystem;

std::string TempDir(const std::string& name) {
  auto dir = fs::temp_directory_path() /
             ("s3rdma_store_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir.string();
}

core::Status Put(ObjectStore& s, const std::string& b, const std::string& k,
                 const std::string& data, int64_t now = 100) {
  auto w = s.BeginPut(b, k);
  if (!w.ok()) return w.status();
  // Write in pieces to exercise streaming.
  for (size_t off = 0; off < data.size(); off += 7) {
    S3_RETURN_IF_ERROR((*w)->Append(std::string_view(data).substr(off, 7)));
  }
  ObjectMeta m;
  m.size = data.size();
  m.etag = HexEncode(Md5(data));
  m.last_modified_unix = now;
  m.headers["content-type"] = "text/plain";
  return (*w)->Commit(m);
}

std::string Get(ObjectStore& s, const std::string& b, const std::string& k) {
  auto r = s.Open(b, k);
  if (!r.ok()) return "<" + r.status().ToString() + ">";
  std::string out((*r)->meta().size, '\0');
  auto n = (*r)->Read(0, out.data(), out.size());
  EXPECT_TRUE(n.ok());
  out.resize(*n);
  return out;
}

core::Status PutPart(ObjectStore& s, const std::string& b, const std::string& k,
                     const std::string& id, int n, const std::string& data) {
  auto w = s.BeginPart(b, k, id, n);
  if (!w.ok()) return w.status();
  S3_RETURN_IF_ERROR((*w)->Append(data));
  ObjectMeta m;
  m.size = data.size();
  m.etag = HexEncode(Md5(data));
  return (*w)->Commit(m);
}

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "memory") {
      store_ = std::make_unique<MemoryStore>(7);
    } else {
      dir_ = TempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
      Reopen();
    }
  }
  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void Reopen() {
    store_.reset();
    auto s = FsStore::Open(dir_, 7);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  std::unique_ptr<ObjectStore> store_;
  std::string dir_;
};

TEST_P(StoreTest, BucketLifecycle) {
  EXPECT_TRUE(IsS3Error(store_->CreateBucket("Bad_Name", 1), S3Err::kInvalidBucketName));
  EXPECT_TRUE(IsS3Error(store_->CreateBucket("..", 1), S3Err::kInvalidBucketName));
  EXPECT_TRUE(IsS3Error(store_->CreateBucket("a/../b", 1), S3Err::kInvalidBucketName));
  ASSERT_TRUE(store_->CreateBucket("bkt", 5).ok());
  EXPECT_TRUE(IsS3Error(store_->CreateBucket("bkt", 6), S3Err::kBucketAlreadyOwnedByYou));
  ASSERT_TRUE(store_->CreateBucket("abc", 6).ok());
  auto list = store_->ListBuckets();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "abc");
  EXPECT_EQ(list[1].created_unix, 5);
  ASSERT_TRUE(Put(*store_, "bkt", "k", "v").ok());
  EXPECT_TRUE(IsS3Error(store_->DeleteBucket("bkt"), S3Err::kBucketNotEmpty));
  ASSERT_TRUE(store_->Delete("bkt", "k").ok());
  EXPECT_TRUE(IsS3Error(store_->Delete("bkt", "k"), S3Err::kNoSuchKey));
  ASSERT_TRUE(store_->DeleteBucket("bkt").ok());
  EXPECT_TRUE(IsS3Error(store_->HeadBucket("bkt"), S3Err::kNoSuchBucket));
  EXPECT_TRUE(IsS3Error(Put(*store_, "bkt", "k", "v"), S3Err::kNoSuchBucket));
}

TEST_P(StoreTest, PutGetOverwriteAndSnapshot) {
  ASSERT_TRUE(store_->CreateBucket("bkt", 1).ok());
  const std::string big(100000, 'x');
  ASSERT_TRUE(Put(*store_, "bkt", "a/b", big).ok());
  auto reader = store_->Open("bkt", "a/b");
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(Put(*store_, "bkt", "a/b", "new").ok());
  // The reader opened before the overwrite still sees the old version in full.
  std::string old(big.size(), '\0');
  auto n = (*reader)->Read(0, old.data(), old.size());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, big.size());
  EXPECT_EQ(old, big);
  EXPECT_EQ(Get(*store_, "bkt", "a/b"), "new");
  auto meta = store_->Stat("bkt", "a/b");
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->etag, HexEncode(Md5("new")));
  EXPECT_EQ(meta->headers.at("content-type"), "text/plain");
  EXPECT_EQ(meta->key, "a/b");
}

TEST_P(StoreTest, AbandonedWriterLeavesNothing) {
  ASSERT_TRUE(store_->CreateBucket("bkt", 1).ok());
  ASSERT_TRUE(Put(*store_, "bkt", "k", "old").ok());
  {
    auto w = store_->BeginPut("bkt", "k");
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append("half written").ok());
  }
  EXPECT_EQ(Get(*store_, "bkt", "k"), "old");
  {
    auto w = store_->BeginPut("bkt", "other");
    ASSERT_TRUE(w.ok());
  }
  EXPECT_TRUE(IsS3Error(store_->Stat("bkt", "other").status(), S3Err::kNoSuchKey));
  if (!dir_.empty()) {
    EXPECT_TRUE(fs::is_empty(dir_ + "/tmp"));
  }
}

TEST_P(StoreTest, KeysCannotEscape) {
  ASSERT_TRUE(store_->CreateBucket("bkt", 1).ok());
  const std::string evil = "../../../../../../tmp/s3rdma_escape_" + std::to_string(::getpid());
  ASSERT_TRUE(Put(*store_, "bkt", evil, "payload").ok());
  ASSERT_TRUE(Put(*store_, "bkt", "/abs/../x", "p2").ok());
  EXPECT_FALSE(fs::exists("/tmp/s3rdma_escape_" + std::to_string(::getpid())));
  EXPECT_EQ(Get(*store_, "bkt", evil), "payload");
  EXPECT_TRUE(IsS3Error(Put(*store_, "bkt", std::string(1025, 'k'), "x"), S3Err::kKeyTooLongError));
  EXPECT_TRUE(Put(*store_, "bkt", std::string(1024, 'k'), "x").ok());
  EXPECT_TRUE(IsS3Error(store_->BeginPart("bkt", "k", "../../x", 1).status(), S3Err::kNoSuchUpload));
}

TEST_P(StoreTest, ListPrefixFromLimit) {
  ASSERT_TRUE(store_->CreateBucket("bkt", 1).ok());
  for (const char* k : {"a", "b/1", "b/2", "b/3", "c"}) ASSERT_TRUE(Put(*store_, "bkt", k, k).ok());
  auto all = store_->List("bkt", "", "", 100);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 5u);
  auto b = store_->List("bkt", "b/", "b/2", 100);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->size(), 2u);
  EXPECT_EQ((*b)[0].key, "b/2");
  auto lim = store_->List("bkt", "", "", 2);
  ASSERT_EQ(lim->size(), 2u);
  EXPECT_EQ((*lim)[1].key, "b/1");
}

TEST_P(StoreTest, MultipartCompleteAndErrors) {
  ASSERT_TRUE(store_->CreateBucket("bkt", 1).ok());
  ObjectMeta m;
  m.headers["x-amz-meta-color"] = "blue";
  auto id = store_->CreateUpload("bkt", "big", m, 10);
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(ValidUploadId(*id));
  const std::string p1(1000, '1'), p2(1000, '2'), p3(10, '3');
  // Out of order.
  ASSERT_TRUE(PutPart(*store_, "bkt", "big", *id, 3, p3).ok());
  ASSERT_TRUE(PutPart(*store_, "bkt", "big", *id, 1, "to be replaced").ok());
  ASSERT_TRUE(PutPart(*store_, "bkt", "big", *id, 2, p2).ok());
  ASSERT_TRUE(PutPart(*store_, "bkt", "big", *id, 1, p1).ok());
  auto parts = store_->ListParts("bkt", "big", *id);
  ASSERT_TRUE(parts.ok());
  ASSERT_EQ(parts->size(), 3u);
  EXPECT_EQ((*parts)[0].etag, HexEncode(Md5(p1)));

  const std::string e1 = "\"" + HexEncode(Md5(p1)) + "\"", e2 = HexEncode(Md5(p2)),
                    e3 = HexEncode(Md5(p3));
  EXPECT_TRUE(IsS3Error(store_->CompleteUpload("bkt", "big", *id, {{2, e2}, {1, e1}}, 100, 11)
                            .status(),
                        S3Err::kInvalidPartOrder));
  EXPECT_TRUE(IsS3Error(store_->CompleteUpload("bkt", "big", *id, {{1, e2}}, 100, 11).status(),
                        S3Err::kInvalidPart));
  EXPECT_TRUE(IsS3Error(store_->CompleteUpload("bkt", "big", *id, {{1, e1}, {4, e3}}, 100, 11)
                            .status(),
                        S3Err::kInvalidPart));
  EXPECT_TRUE(IsS3Error(
      store_->CompleteUpload("bkt", "big", *id, {{1, e1}, {2, e2}, {3, e3}}, 5000, 11).status(),
      S3Err::kEntityTooSmall));
  if (!dir_.empty()) Reopen();  // parts survive a restart
  auto done = store_->CompleteUpload("bkt", "big", *id, {{1, e1}, {2, e2}, {3, e3}}, 1000, 11);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->size, 2010u);
  EXPECT_EQ(done->etag, HexEncode(Md5(Md5(p1) + Md5(p2) + Md5(p3))) + "-3");
  EXPECT_EQ(Get(*store_, "bkt", "big"), p1 + p2 + p3);
  auto meta = store_->Stat("bkt", "big");
  EXPECT_EQ(meta->headers.at("x-amz-meta-color"), "blue");
  EXPECT_TRUE(IsS3Error(store_->ListParts("bkt", "big", *id).status(), S3Err::kNoSuchUpload));

  auto id2 = store_->CreateUpload("bkt", "other", {}, 12);
  ASSERT_TRUE(id2.ok());
  auto uploads = store_->ListUploads("bkt");
  ASSERT_EQ(uploads->size(), 1u);
  EXPECT_EQ((*uploads)[0].key, "other");
  ASSERT_TRUE(store_->AbortUpload("bkt", "other", *id2).ok());
  EXPECT_TRUE(IsS3Error(store_->AbortUpload("bkt", "other", *id2), S3Err::kNoSuchUpload));
  EXPECT_TRUE(store_->ListUploads("bkt")->empty());
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values("memory", "fs"));

TEST(FsStoreTest, PersistsAndCleansLeftovers) {
  const std::string dir = TempDir("persist");
  {
    auto s = FsStore::Open(dir, 1);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->CreateBucket("bkt", 3).ok());
    ASSERT_TRUE(Put(**s, "bkt", "key with spaces/ü", "hello").ok());
    auto w = (*s)->BeginPut("bkt", "torn");
    ASSERT_TRUE((*w)->Append("partial").ok());
    // Simulate a crash: copy the in-flight temp file aside, as if the process died here.
    for (const auto& e : fs::directory_iterator(dir + "/tmp")) {
      fs::copy_file(e.path(), dir + "/tmp/crashed.tmp");
    }
  }
  std::ofstream(dir + "/tmp/other-leftover") << "junk";
  auto s = FsStore::Open(dir, 2);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->leftovers_removed(), 2u);
  EXPECT_TRUE(fs::is_empty(dir + "/tmp"));
  EXPECT_EQ(Get(**s, "bkt", "key with spaces/ü"), "hello");
  EXPECT_TRUE(IsS3Error((*s)->Stat("bkt", "torn").status(), S3Err::kNoSuchKey));
  auto list = (*s)->List("bkt", "", "", 10);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*s)->ListBuckets()[0].created_unix, 3);
  fs::remove_all(dir);
}

TEST(FsStoreTest, CorruptObjectFileIsNotServed) {
  const std::string dir = TempDir("corrupt");
  {
    auto s = FsStore::Open(dir, 1);
    ASSERT_TRUE((*s)->CreateBucket("bkt", 3).ok());
    ASSERT_TRUE(Put(**s, "bkt", "k", "hello world").ok());
  }
  for (const auto& e : fs::directory_iterator(dir + "/buckets/bkt")) {
    if (e.path().extension() == ".obj") fs::resize_file(e.path(), 5);  // a torn file
  }
  auto s = FsStore::Open(dir, 2);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE((*s)->List("bkt", "", "", 10)->empty());
  fs::remove_all(dir);
}

TEST(HashTest, KnownValues) {
  EXPECT_EQ(HexEncode(Md5("")), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Crc32 c;
  c.Update("123456789");
  EXPECT_EQ(c.Value(), 0xCBF43926u);
  Crc32c cc;
  cc.Update("12345");
  cc.Update("6789");
  EXPECT_EQ(cc.Value(), 0xE3069283u);
  Crc32c big;
  big.Update(std::string(32, '\0'));
  EXPECT_EQ(big.Value(), 0x8A9136AAu);  // RFC 3720 B.4
  EXPECT_EQ(Base64Encode("hello"), "aGVsbG8=");
  EXPECT_EQ(*Base64Decode("aGVsbG8="), "hello");
  EXPECT_FALSE(Base64Decode("aGVsbG8").has_value());
  EXPECT_FALSE(Base64Decode("aGV*bG8=").has_value());
  EXPECT_EQ(CrcToBase64(0xCBF43926u), "y/Q5Jg==");
}

}  // namespace
}  // namespace s3rdma::proto
