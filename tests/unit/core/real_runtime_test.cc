#include "core/real_runtime.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace s3rdma::core {
namespace {

TEST(RealRuntimeTest, TimersFireInDeadlineOrderAndNotEarly) {
  RealRuntime rt;
  std::vector<int> order;
  std::vector<Duration> elapsed;
  const Time start = rt.Now();
  for (int ms : {30, 10, 20}) {
    rt.After(Duration::Milliseconds(ms), [&, ms] {
      order.push_back(ms);
      elapsed.push_back(rt.Now() - start);
    });
  }
  rt.Run();
  EXPECT_EQ(order, (std::vector<int>{10, 20, 30}));
  ASSERT_EQ(elapsed.size(), 3u);
  EXPECT_GE(elapsed[0], Duration::Milliseconds(10));
  EXPECT_GE(elapsed[2], Duration::Milliseconds(30));
  EXPECT_EQ(rt.pending_timers(), 0u);
}

TEST(RealRuntimeTest, CancelledTimerDoesNotFire) {
  RealRuntime rt;
  bool fired = false;
  TimerHandle t = rt.After(Duration::Milliseconds(5), [&] { fired = true; });
  EXPECT_TRUE(t.Pending());
  EXPECT_TRUE(t.Cancel());
  EXPECT_FALSE(t.Pending());
  EXPECT_FALSE(t.Cancel());
  rt.Run();
  EXPECT_FALSE(fired);
}

TEST(RealRuntimeTest, PostRunsInOrderAndFromOtherThreads) {
  RealRuntime rt;
  std::vector<int> order;
  rt.Post([&] { order.push_back(1); });
  rt.Post([&] { order.push_back(2); });
  // Keep the loop alive until the other thread's post arrives.
  TimerHandle guard = rt.After(Duration::Seconds(10), [] {});
  std::thread other([&] { rt.Post([&] { order.push_back(3); guard.Cancel(); }); });
  rt.Run();
  other.join();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(RealRuntimeTest, NowIsMonotonic) {
  RealRuntime rt;
  Time prev = rt.Now();
  for (int i = 0; i < 1000; ++i) {
    Time t = rt.Now();
    EXPECT_GE(t, prev);
    prev = t;
  }
}

}  // namespace
}  // namespace s3rdma::core
