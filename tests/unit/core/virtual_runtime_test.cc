#include "core/virtual_runtime.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/rng.h"

namespace s3rdma::core {
namespace {

TEST(VirtualRuntimeTest, RunsInTimeOrderThenInsertionOrder) {
  VirtualRuntime rt;
  std::vector<std::string> order;
  rt.After(Duration::Microseconds(5), [&] { order.push_back("t5-a"); });
  rt.After(Duration::Microseconds(1), [&] { order.push_back("t1"); });
  rt.After(Duration::Microseconds(5), [&] { order.push_back("t5-b"); });
  rt.Post([&] { order.push_back("now-a"); });
  rt.After(Duration::Microseconds(5), [&] { order.push_back("t5-c"); });
  rt.Post([&] { order.push_back("now-b"); });
  EXPECT_EQ(rt.Run(), 6u);
  EXPECT_EQ(order, (std::vector<std::string>{"now-a", "now-b", "t1", "t5-a", "t5-b", "t5-c"}));
  EXPECT_EQ(rt.Now(), Time::Zero() + Duration::Microseconds(5));
}

TEST(VirtualRuntimeTest, SimultaneousEventsScheduledFromEventsKeepFifoOrder) {
  VirtualRuntime rt;
  std::vector<int> order;
  rt.After(Duration::Nanoseconds(10), [&] {
    order.push_back(1);
    rt.Post([&] { order.push_back(3); });
    rt.After(Duration::Zero(), [&] { order.push_back(4); });
  });
  rt.After(Duration::Nanoseconds(10), [&] { order.push_back(2); });
  rt.Run();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
}

TEST(VirtualRuntimeTest, CancelledEventsNeverRun) {
  VirtualRuntime rt;
  int ran = 0;
  TimerHandle a = rt.After(Duration::Microseconds(1), [&] { ran += 1; });
  TimerHandle b = rt.After(Duration::Microseconds(2), [&] { ran += 10; });
  TimerHandle c = rt.After(Duration::Microseconds(3), [&] { ran += 100; });
  EXPECT_TRUE(b.Pending());
  EXPECT_TRUE(b.Cancel());
  EXPECT_FALSE(b.Pending());
  EXPECT_FALSE(b.Cancel());  // second cancel is a no-op
  EXPECT_EQ(rt.pending(), 2u);
  rt.Run();
  EXPECT_EQ(ran, 101);
  EXPECT_FALSE(a.Cancel());  // already ran
  EXPECT_FALSE(c.Pending());
  EXPECT_FALSE(TimerHandle().Cancel());
  EXPECT_EQ(rt.stats().scheduled, 3u);
  EXPECT_EQ(rt.stats().executed, 2u);
  EXPECT_EQ(rt.stats().cancelled, 1u);
}

TEST(VirtualRuntimeTest, AnEventCanCancelALaterOneAtTheSameTime) {
  VirtualRuntime rt;
  bool second_ran = false;
  TimerHandle second;
  rt.After(Duration::Microseconds(1), [&] { EXPECT_TRUE(second.Cancel()); });
  second = rt.After(Duration::Microseconds(1), [&] { second_ran = true; });
  rt.Run();
  EXPECT_FALSE(second_ran);
}

TEST(VirtualRuntimeTest, StaleHandleDoesNotCancelAReusedSlot) {
  VirtualRuntime rt;
  TimerHandle old = rt.After(Duration::Microseconds(1), [] {});
  rt.Run();
  int ran = 0;
  rt.After(Duration::Microseconds(1), [&] { ++ran; });  // reuses the slot
  EXPECT_FALSE(old.Cancel());
  rt.Run();
  EXPECT_EQ(ran, 1);
}

TEST(VirtualRuntimeTest, MassCancellationCompactsAndKeepsOrder) {
  VirtualRuntime rt;
  Rng rng(5);
  std::vector<TimerHandle> handles;
  std::vector<int64_t> fired;
  for (int i = 0; i < 20000; ++i) {
    const int64_t at = rng.Uniform(1, 1'000'000);
    handles.push_back(rt.After(Duration::Nanoseconds(at), [&fired, &rt] {
      fired.push_back(rt.Now().ps());
    }));
  }
  for (size_t i = 0; i < handles.size(); ++i) {
    if (i % 4 != 0) {
      EXPECT_TRUE(handles[i].Cancel());
    }
  }
  EXPECT_EQ(rt.pending(), 5000u);
  rt.Run();
  ASSERT_EQ(fired.size(), 5000u);
  EXPECT_TRUE(std::is_sorted(fired.begin(), fired.end()));
}

TEST(VirtualRuntimeTest, RunUntilAndRunEvents) {
  VirtualRuntime rt;
  int ran = 0;
  for (int i = 1; i <= 10; ++i) rt.After(Duration::Microseconds(i), [&] { ++ran; });
  EXPECT_EQ(rt.RunUntil(Time::Zero() + Duration::Microseconds(3)), 3u);
  EXPECT_EQ(rt.Now(), Time::Zero() + Duration::Microseconds(3));
  EXPECT_EQ(rt.RunEvents(2), 2u);
  EXPECT_EQ(ran, 5);
  EXPECT_EQ(rt.NextEventTime(), Time::Zero() + Duration::Microseconds(6));
  // RunUntil a time before the next event just advances the clock.
  EXPECT_EQ(rt.RunUntil(Time::Zero() + Duration::Nanoseconds(5500)), 0u);
  EXPECT_EQ(rt.Now().ns(), 5500);
  EXPECT_EQ(rt.Run(), 5u);
  EXPECT_FALSE(rt.NextEventTime().has_value());
}

TEST(VirtualRuntimeTest, StopEndsTheRunAfterTheCurrentEvent) {
  VirtualRuntime rt;
  int ran = 0;
  rt.After(Duration::Microseconds(1), [&] { ++ran; rt.Stop(); });
  rt.After(Duration::Microseconds(2), [&] { ++ran; });
  EXPECT_EQ(rt.Run(), 1u);
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(rt.Run(), 1u);
  EXPECT_EQ(ran, 2);
}

// A randomised workload whose event trace depends only on the seed.
uint64_t TraceOf(uint64_t seed) {
  VirtualRuntime rt;
  Rng rng(seed);
  std::vector<TimerHandle> timers;
  std::function<void(int)> spawn = [&](int depth) {
    if (depth == 0) return;
    const int children = static_cast<int>(rng.Uniform(0, 2));
    for (int c = 0; c < children; ++c) {
      timers.push_back(rt.After(Duration::Nanoseconds(rng.Uniform(0, 50)),
                                [&, depth] { spawn(depth - 1); }));
    }
    if (!timers.empty() && rng.Bernoulli(0.2)) timers[rng.Below(timers.size())].Cancel();
  };
  for (int i = 0; i < 50; ++i) rt.Post([&] { spawn(12); });
  rt.Run();
  return rt.TraceHash() ^ rt.stats().executed;
}

TEST(VirtualRuntimeTest, SameSeedGivesSameTraceHash) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    EXPECT_EQ(TraceOf(seed), TraceOf(seed)) << "seed " << seed;
  }
  EXPECT_NE(TraceOf(1), TraceOf(2));
}

TEST(VirtualRuntimeDeathTest, NegativeDelayIsABug) {
  VirtualRuntime rt;
  EXPECT_DEATH(rt.After(Duration::Nanoseconds(-1), [] {}), "negative delay");
}

}  // namespace
}  // namespace s3rdma::core
