// SimFs: what survives a simulated crash, and FsStore's recovery on top of it.
#include "sim/sim_fs.h"

#include <string>

#include <gtest/gtest.h>

#include "core/virtual_runtime.h"
#include "proto/fs_store.h"

namespace s3rdma::sim {
namespace {

std::string Pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (seed + i * 7) % 26);
  return s;
}

void WriteFile(SimFs& fs, const std::string& path, std::string_view data, bool sync) {
  auto f = fs.CreateFile(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->Append(data).ok());
  if (sync) {
    ASSERT_TRUE((*f)->Sync().ok());
  }
}

TEST(SimFsTest, BehavesLikeAFileSystemBeforeACrash) {
  SimFs fs(1);
  ASSERT_TRUE(fs.CreateDirs("/a/b").ok());
  ASSERT_TRUE(fs.CreateDirs("/a/b").ok());
  WriteFile(fs, "/a/b/f", "hello", false);
  EXPECT_EQ(fs.CreateFile("/a/b/f").status().code(), core::StatusCode::kAlreadyExists);
  EXPECT_EQ(fs.OpenFile("/a/x").status().code(), core::StatusCode::kNotFound);
  EXPECT_EQ(fs.CreateFile("/nope/f").status().code(), core::StatusCode::kNotFound);
  EXPECT_EQ(fs.CreateDir("/a/b/f/g").code(), core::StatusCode::kNotFound);
  EXPECT_EQ(fs.OpenFile("/a/../a/b/f").status().code(), core::StatusCode::kInvalidArgument);
  EXPECT_EQ(fs.Unlink("/a/b").code(), core::StatusCode::kIOError);  // a directory

  auto r = fs.OpenFile("/a/b/f");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*(*r)->Size(), 5u);
  EXPECT_FALSE((*r)->Append("x").ok());  // read-only
  EXPECT_EQ((*r)->NativeFd(), -1);
  char buf[8];
  EXPECT_EQ(*(*r)->PRead(1, buf, sizeof(buf)), 4u);
  EXPECT_EQ(std::string(buf, 4), "ello");

  // An open file outlives its name (POSIX): the reader still sees the old bytes.
  WriteFile(fs, "/a/g", "new", false);
  ASSERT_TRUE(fs.Rename("/a/g", "/a/b/f").ok());
  EXPECT_EQ(*fs.ReadFileForTesting("/a/b/f"), "new");
  EXPECT_EQ(*(*r)->PRead(0, buf, sizeof(buf)), 5u);
  EXPECT_FALSE(fs.Exists("/a/g"));

  auto list = fs.ListDir("/a");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "b");
  EXPECT_TRUE((*list)[0].is_dir);

  EXPECT_EQ(fs.Rename("/a", "/a/b/c").code(), core::StatusCode::kInvalidArgument);
  ASSERT_TRUE(fs.CreateDir("/d").ok());
  EXPECT_FALSE(fs.Rename("/d", "/a").ok());  // target not empty
  EXPECT_FALSE(fs.Rename("/a/b/f", "/d").ok());  // file over a directory
  ASSERT_TRUE(fs.RemoveAll("/a").ok());
  EXPECT_FALSE(fs.Exists("/a/b/f"));
  EXPECT_TRUE(fs.RemoveAll("/a").ok());
}

TEST(SimFsTest, SyncedDataAndEntriesSurviveEveryCrash) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    SimFs fs(seed);
    ASSERT_TRUE(fs.CreateDirs("/d").ok());
    ASSERT_TRUE(fs.SyncDir("/").ok());
    const std::string data = Pattern(10000, static_cast<char>(seed));
    WriteFile(fs, "/d/f", data, true);
    ASSERT_TRUE(fs.SyncDir("/d").ok());
    EXPECT_EQ(fs.NotDurableForTesting(), 0u);
    fs.Crash();
    auto got = fs.ReadFileForTesting("/d/f");
    ASSERT_TRUE(got.ok()) << "seed " << seed;
    EXPECT_EQ(*got, data) << "seed " << seed;
  }
}

TEST(SimFsTest, UnsyncedBytesAreLostKeptOrTorn) {
  int lost = 0, kept = 0, torn = 0;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SimFs fs(seed);
    const std::string synced = Pattern(5000, 'a');
    const std::string more = Pattern(20000, 'q');
    auto f = fs.CreateFile("/f");
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append(synced).ok());
    ASSERT_TRUE((*f)->Sync().ok());
    ASSERT_TRUE(fs.SyncDir("/").ok());
    ASSERT_TRUE((*f)->Append(more).ok());
    const SimFsCrashStats st = fs.Crash();
    EXPECT_EQ(st.files_lost + st.files_kept + st.files_torn, 1u);
    // The handle belongs to the process that died.
    EXPECT_EQ((*f)->Append("x").code(), core::StatusCode::kIOError);
    EXPECT_FALSE((*f)->Sync().ok());
    const std::string got = *fs.ReadFileForTesting("/f");
    const std::string full = synced + more;
    ASSERT_GE(got.size(), synced.size()) << "seed " << seed;
    ASSERT_LE(got.size(), full.size()) << "seed " << seed;
    EXPECT_EQ(got.substr(0, synced.size()), synced) << "synced bytes damaged, seed " << seed;
    if (got == synced) {
      ++lost;
    } else if (got == full) {
      ++kept;
    } else {
      ++torn;
      // Every surviving byte is what was written or a zero (an unwritten block).
      for (size_t i = synced.size(); i < got.size(); ++i) {
        ASSERT_TRUE(got[i] == full[i] || got[i] == '\0') << "seed " << seed << " byte " << i;
      }
    }
  }
  EXPECT_GT(lost, 30);
  EXPECT_GT(kept, 30);
  EXPECT_GT(torn, 30);
}

TEST(SimFsTest, UnsyncedNamesComeAndGo) {
  int present = 0, absent = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    SimFs fs(seed);
    WriteFile(fs, "/f", "data", true);  // bytes durable, the name is not
    fs.Crash();
    if (fs.Exists("/f")) {
      ++present;
      EXPECT_EQ(*fs.ReadFileForTesting("/f"), "data");
    } else {
      ++absent;
    }
  }
  EXPECT_GT(present, 50);
  EXPECT_GT(absent, 50);
}

// The FsStore commit protocol: write tmp, fsync, rename, fsync the destination directory.
TEST(SimFsTest, DurableRenameIsAtomicAndReplacesTheOldVersion) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    SimFs fs(seed);
    ASSERT_TRUE(fs.CreateDirs("/tmp").ok());
    ASSERT_TRUE(fs.CreateDirs("/obj").ok());
    ASSERT_TRUE(fs.SyncDir("/").ok());
    WriteFile(fs, "/tmp/1", "old", true);
    ASSERT_TRUE(fs.Rename("/tmp/1", "/obj/k").ok());
    ASSERT_TRUE(fs.SyncDir("/obj").ok());
    WriteFile(fs, "/tmp/2", "new", true);
    ASSERT_TRUE(fs.Rename("/tmp/2", "/obj/k").ok());
    ASSERT_TRUE(fs.SyncDir("/obj").ok());
    WriteFile(fs, "/tmp/3", "unacked", true);
    ASSERT_TRUE(fs.SyncDir("/tmp").ok());
    ASSERT_TRUE(fs.Rename("/tmp/3", "/obj/k").ok());  // no directory sync: may be undone
    fs.Crash();
    const std::string got = *fs.ReadFileForTesting("/obj/k");
    EXPECT_TRUE(got == "new" || got == "unacked") << "seed " << seed << ": " << got;
    EXPECT_FALSE(fs.Exists("/tmp/1")) << "seed " << seed;
    EXPECT_FALSE(fs.Exists("/tmp/2")) << "seed " << seed;
    // A rename is atomic: "unacked" is under exactly one of its names.
    EXPECT_NE(got == "unacked", fs.Exists("/tmp/3")) << "seed " << seed;
  }
}

TEST(SimFsTest, RemovedDirectoriesMayReturnButNeverHalfWay) {
  int back = 0;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    SimFs fs(seed);
    ASSERT_TRUE(fs.CreateDirs("/u/x").ok());
    WriteFile(fs, "/u/x/p", "part", true);
    ASSERT_TRUE(fs.SyncDir("/u/x").ok());
    ASSERT_TRUE(fs.SyncDir("/u").ok());
    ASSERT_TRUE(fs.SyncDir("/").ok());
    ASSERT_TRUE(fs.RemoveAll("/u/x").ok());
    fs.Crash();
    if (fs.Exists("/u/x")) {
      ++back;
      // Its file entry was removed by a separate operation: present or not, never damaged.
      if (fs.Exists("/u/x/p")) {
        EXPECT_EQ(*fs.ReadFileForTesting("/u/x/p"), "part");
      }
    }
  }
  EXPECT_GT(back, 10);
}

TEST(SimFsTest, InjectedErrorsChangeNothing) {
  SimFs fs(3);
  WriteFile(fs, "/f", "abc", true);
  ASSERT_TRUE(fs.SyncDir("/").ok());
  fs.set_faults({.append_error_probability = 1.0, .sync_error_probability = 1.0});
  auto f = fs.CreateFile("/g");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->Append("zzz").code(), core::StatusCode::kIOError);
  EXPECT_EQ((*f)->Sync().code(), core::StatusCode::kIOError);
  EXPECT_EQ(fs.SyncDir("/").code(), core::StatusCode::kIOError);
  EXPECT_EQ(*(*f)->Size(), 0u);
  EXPECT_EQ(fs.stats().injected_errors, 3u);
  fs.set_faults({});
  fs.Crash();
  EXPECT_EQ(*fs.ReadFileForTesting("/f"), "abc");
}

TEST(SimFsTest, SameSeedSameCrash) {
  auto run = [](uint64_t seed) {
    SimFs fs(seed);
    std::string out;
    for (int i = 0; i < 20; ++i) {
      WriteFile(fs, "/f" + std::to_string(i), Pattern(9000, static_cast<char>(i)), i % 3 == 0);
    }
    fs.Crash();
    for (int i = 0; i < 20; ++i) {
      auto got = fs.ReadFileForTesting("/f" + std::to_string(i));
      out += got.ok() ? std::to_string(got->size()) + ":" + *got : "-";
    }
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

// FsStore recovers on SimFs: acknowledged objects survive any crash, leftovers are cleaned.
TEST(SimFsTest, FsStoreAcknowledgedPutsSurviveCrashes) {
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    SimFs fs(seed);
    {
      auto store = proto::FsStore::Open("/data", seed, fs);
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      ASSERT_TRUE((*store)->CreateBucket("bkt", 1).ok());
      for (int i = 0; i < 4; ++i) {
        auto w = (*store)->BeginPut("bkt", "k" + std::to_string(i));
        ASSERT_TRUE(w.ok());
        const std::string data = Pattern(3000 + i * 5000, static_cast<char>(i));
        ASSERT_TRUE((*w)->Append(data).ok());
        proto::ObjectMeta meta;
        meta.size = data.size();
        meta.etag = "e" + std::to_string(i);
        ASSERT_TRUE((*w)->Commit(meta).ok());
      }
      // One write in progress at the crash.
      auto w = (*store)->BeginPut("bkt", "k0");
      ASSERT_TRUE(w.ok());
      ASSERT_TRUE((*w)->Append(Pattern(7000, 'z')).ok());
      fs.Crash();
    }
    auto store = proto::FsStore::Open("/data", seed + 1000, fs);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    for (int i = 0; i < 4; ++i) {
      auto r = (*store)->Open("bkt", "k" + std::to_string(i));
      ASSERT_TRUE(r.ok()) << "seed " << seed << " key " << i << ": " << r.status().ToString();
      const std::string want = Pattern(3000 + i * 5000, static_cast<char>(i));
      std::string got(want.size(), '\0');
      ASSERT_EQ(*(*r)->Read(0, got.data(), got.size()), want.size());
      EXPECT_EQ(got, want) << "seed " << seed;
    }
    auto tmp = fs.ListDir("/data/tmp");
    ASSERT_TRUE(tmp.ok());
    EXPECT_TRUE(tmp->empty());
  }
}

// The planted durability bugs really lose acknowledged data on SimFs (what dst relies on).
TEST(SimFsTest, PlantedFsStoreBugsLoseAcknowledgedData) {
  if (!proto::kPlantedBugsBuilt) GTEST_SKIP() << "built without S3RDMA_PLANT_BUGS";
  for (proto::FsStoreBug bug :
       {proto::FsStoreBug::kAckBeforeFsync, proto::FsStoreBug::kTornCommit}) {
    int damaged = 0;
    for (uint64_t seed = 1; seed <= 40; ++seed) {
      SimFs fs(seed);
      const std::string data = Pattern(20000, 'm');
      {
        auto store = proto::FsStore::Open("/data", seed, fs);
        ASSERT_TRUE(store.ok());
        ASSERT_TRUE((*store)->CreateBucket("bkt", 1).ok());
        (*store)->PlantBugForTesting(bug);
        auto w = (*store)->BeginPut("bkt", "k");
        ASSERT_TRUE((*w)->Append(data).ok());
        proto::ObjectMeta meta;
        meta.size = data.size();
        ASSERT_TRUE((*w)->Commit(meta).ok());
        fs.Crash();
      }
      auto store = proto::FsStore::Open("/data", seed, fs);
      ASSERT_TRUE(store.ok());
      auto r = (*store)->Open("bkt", "k");
      std::string got(data.size(), '\0');
      if (!r.ok() || *(*r)->Read(0, got.data(), got.size()) != data.size() || got != data) {
        ++damaged;
      }
    }
    EXPECT_GT(damaged, 5) << "bug " << static_cast<int>(bug);
  }
}


// The drive model: calls queue FIFO, cost their service time (times the slow factor during a
// slow period), IdleAt tells when the I/O issued by a time is done, a crash empties the queue.
TEST(SimFsTest, DriveQueuesCallsAndSlowPeriodsMultiplyTheirCost) {
  core::VirtualRuntime rt;
  SimFs fs(3);
  SimDrive d;
  d.metadata = core::Duration::Microseconds(5);
  d.append = core::Duration::Microseconds(2);
  d.sync = core::Duration::Microseconds(50);
  d.rate = core::DataRate::BytesPerSecond(1'000'000'000);  // 1 byte per ns
  fs.AttachDrive(rt, d);
  const core::Time t0 = rt.Now();
  EXPECT_EQ(fs.IdleAt(t0), t0);  // nothing issued
  auto f = fs.CreateFile("/f");  // 5 us
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append(std::string(1000, 'x')).ok());  // 2 us + 1 us
  ASSERT_TRUE((*f)->Sync().ok());                         // 50 us
  EXPECT_EQ(fs.IdleAt(t0), t0 + core::Duration::Microseconds(58));
  // Later calls queue behind the earlier ones; IdleAt of an earlier time ignores them.
  rt.RunUntil(t0 + core::Duration::Microseconds(10));
  const core::Time t1 = rt.Now();
  ASSERT_TRUE(fs.SyncDir("/").ok());
  EXPECT_EQ(fs.IdleAt(t1), t0 + core::Duration::Microseconds(108));
  EXPECT_EQ(fs.IdleAt(t0), t0 + core::Duration::Microseconds(58));
  EXPECT_EQ(fs.stats().max_wait, core::Duration::Microseconds(48));
  // A slow period multiplies the cost of calls issued in it, and only those.
  rt.RunUntil(t0 + core::Duration::Milliseconds(1));
  const core::Time t2 = rt.Now();
  fs.SlowDown(100, t2 + core::Duration::Microseconds(1));
  ASSERT_TRUE((*f)->Sync().ok());
  EXPECT_EQ(fs.IdleAt(t2), t2 + core::Duration::Microseconds(5000));
  EXPECT_EQ(fs.stats().slow_periods, 1u);
  EXPECT_EQ(fs.stats().slowed_calls, 1u);
  rt.RunUntil(t2 + core::Duration::Microseconds(2));
  const core::Time t3 = rt.Now();
  ASSERT_TRUE((*f)->Sync().ok());  // the period is over, but it waits behind the slow fsync
  EXPECT_EQ(fs.IdleAt(t3), t2 + core::Duration::Microseconds(5050));
  // Effects are immediate whatever the drive's queue: the bytes are durable already.
  EXPECT_EQ(fs.NotDurableForTesting(), 0u);
  // Power loss empties the queue.
  fs.Crash();
  EXPECT_EQ(fs.IdleAt(rt.Now()), rt.Now());
}

}  // namespace
}  // namespace s3rdma::sim
