// PosixFsEnv: the real file-system seam FsStore runs on by default.
#include "proto/fs_env.h"

#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace s3rdma::proto {
namespace {

class PosixFsEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path().string() + "/s3rdma_fs_env_" +
           std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    ASSERT_TRUE(env_.CreateDirs(dir_).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  PosixFsEnv env_;
};

TEST_F(PosixFsEnvTest, CreateAppendSyncReadBack) {
  const std::string path = dir_ + "/f";
  auto f = env_.CreateFile(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->Append("hello ").ok());
  ASSERT_TRUE((*f)->Append("world").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  EXPECT_GE((*f)->NativeFd(), 0);
  f->reset();
  auto r = env_.OpenFile(path);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*(*r)->Size(), 11u);
  char buf[32] = {};
  auto n = (*r)->PRead(6, buf, sizeof(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "world");
}

TEST_F(PosixFsEnvTest, ErrorsCarryCodes) {
  EXPECT_EQ(env_.OpenFile(dir_ + "/missing").status().code(), core::StatusCode::kNotFound);
  ASSERT_TRUE(env_.CreateFile(dir_ + "/f").ok());
  EXPECT_EQ(env_.CreateFile(dir_ + "/f").status().code(), core::StatusCode::kAlreadyExists);
  EXPECT_EQ(env_.CreateDir(dir_ + "/no/such/parent").code(), core::StatusCode::kNotFound);
  EXPECT_EQ(env_.Unlink(dir_ + "/missing").code(), core::StatusCode::kNotFound);
  EXPECT_EQ(env_.Rename(dir_ + "/missing", dir_ + "/x").code(), core::StatusCode::kNotFound);
}

TEST_F(PosixFsEnvTest, DirectoriesRenameAndRemove) {
  ASSERT_TRUE(env_.CreateDir(dir_ + "/d").ok());
  EXPECT_EQ(env_.CreateDir(dir_ + "/d").code(), core::StatusCode::kAlreadyExists);
  ASSERT_TRUE(env_.CreateDirs(dir_ + "/d/e/f").ok());
  ASSERT_TRUE(env_.CreateFile(dir_ + "/d/b").ok());
  ASSERT_TRUE(env_.CreateFile(dir_ + "/d/a").ok());
  auto list = env_.ListDir(dir_ + "/d");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);  // sorted
  EXPECT_EQ((*list)[0].name, "a");
  EXPECT_FALSE((*list)[0].is_dir);
  EXPECT_EQ((*list)[2].name, "e");
  EXPECT_TRUE((*list)[2].is_dir);
  ASSERT_TRUE(env_.Rename(dir_ + "/d/a", dir_ + "/d/b").ok());  // replaces b
  EXPECT_FALSE(env_.Exists(dir_ + "/d/a"));
  EXPECT_TRUE(env_.Exists(dir_ + "/d/b"));
  EXPECT_TRUE(env_.SyncDir(dir_ + "/d").ok());
  ASSERT_TRUE(env_.RemoveAll(dir_ + "/d").ok());
  EXPECT_FALSE(env_.Exists(dir_ + "/d"));
  EXPECT_TRUE(env_.RemoveAll(dir_ + "/d").ok());  // absent is fine
}

TEST(ParentPathTest, Cases) {
  EXPECT_EQ(ParentPath("a/b/c"), "a/b");
  EXPECT_EQ(ParentPath("/a/b/"), "/a");
  EXPECT_EQ(ParentPath("c"), ".");
  EXPECT_EQ(ParentPath("/c"), "/");
}

}  // namespace
}  // namespace s3rdma::proto
