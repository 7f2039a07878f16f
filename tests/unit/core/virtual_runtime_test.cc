#include "core/virtual_runtime.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>
#include <utility>
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

// Checks the queue against a reference model (a std::set ordered by (time, insertion
// order)) under a random mix of everything the API allows: Post, After with ties and
// with far-future times, cancellation, peeking past Now() with NextEventTime and
// RunUntil, then scheduling below the peeked time, RunEvents, Stop.
void CheckAgainstReferenceModel(uint64_t seed) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  VirtualRuntime rt;
  Rng rng(seed);
  std::set<std::pair<int64_t, uint64_t>> live;  // (time ps, insertion index)
  std::vector<std::pair<TimerHandle, std::pair<int64_t, uint64_t>>> handles;
  uint64_t next_index = 0;
  uint64_t ran = 0;
  bool ok = true;
  std::function<void()> schedule_some;
  auto schedule_one = [&] {
    const uint64_t kind = rng.Below(10);
    int64_t delay_ps = 0;
    if (kind < 2) {
      delay_ps = 0;  // same instant: must run FIFO after what is already there
    } else if (kind < 4) {
      delay_ps = rng.Uniform(0, 3) * 1000;  // coarse times: many ties
    } else if (kind < 9) {
      delay_ps = rng.Uniform(1, 5'000'000);
    } else {
      delay_ps = rng.Uniform(1, int64_t{1} << 50);  // far future
    }
    const std::pair<int64_t, uint64_t> key{rt.Now().ps() + delay_ps, next_index++};
    live.insert(key);
    TimerHandle h = rt.After(Duration::Picoseconds(delay_ps), [&, key] {
      ++ran;
      if (live.empty() || *live.begin() != key || rt.Now().ps() != key.first) ok = false;
      live.erase(key);
      if (rng.Bernoulli(0.02)) rt.Stop();
      schedule_some();
    });
    handles.emplace_back(h, key);
  };
  schedule_some = [&] {
    if (next_index >= 30000) return;
    const uint64_t n = rng.Below(3);  // 0, 1 or 2 children: the population drifts
    for (uint64_t i = 0; i < n; ++i) schedule_one();
    if (!handles.empty() && rng.Bernoulli(0.15)) {
      auto& [h, key] = handles[rng.Below(handles.size())];
      const bool was_live = live.count(key) == 1;
      if (h.Cancel() != was_live) ok = false;
      live.erase(key);
    }
  };
  for (int i = 0; i < 2000; ++i) schedule_one();
  while (ok && rt.pending() > 0) {
    ASSERT_EQ(rt.pending(), live.size());
    switch (rng.Below(4)) {
      case 0: {
        const std::optional<Time> next = rt.NextEventTime();
        ASSERT_TRUE(next.has_value());
        ASSERT_EQ(next->ps(), live.begin()->first);
        // Stop short of the next event, then schedule before it.
        const int64_t gap = next->ps() - rt.Now().ps();
        rt.RunUntil(rt.Now() + Duration::Picoseconds(gap / 2));
        schedule_some();
        break;
      }
      case 1:
        rt.RunEvents(rng.Below(500));
        break;
      case 2:
        rt.RunUntil(rt.Now() + Duration::Picoseconds(rng.Uniform(0, 2'000'000)));
        break;
      default:
        rt.Run();
        break;
    }
  }
  EXPECT_TRUE(ok) << "an event ran out of (time, insertion) order";
  EXPECT_TRUE(live.empty());
  EXPECT_EQ(rt.stats().executed, ran);
  EXPECT_GT(ran, 10000u);
}

TEST(VirtualRuntimeTest, MatchesAReferenceQueueUnderRandomOperations) {
  for (uint64_t seed = 1; seed <= 8; ++seed) CheckAgainstReferenceModel(seed);
}

TEST(VirtualRuntimeTest, ManyEventsAtOneInstantRunInOrder) {
  // Exercises the bucket for "now" growing and being trimmed while it is consumed.
  VirtualRuntime rt;
  std::vector<int> order;
  int next = 0;
  std::function<void()> post_chain = [&] {
    order.push_back(next++);
    if (next < 100000) {
      rt.Post(post_chain);
      if (next % 3 == 0) rt.Post([&] { order.push_back(-1); });
    }
  };
  rt.After(Duration::Microseconds(7), post_chain);
  rt.Run();
  int expect = 0;
  for (int v : order) {
    if (v >= 0) {
      ASSERT_EQ(v, expect++);
    }
  }
  EXPECT_EQ(expect, 100000);
  EXPECT_EQ(rt.Now(), Time::Zero() + Duration::Microseconds(7));
}

TEST(VirtualRuntimeDeathTest, NegativeDelayIsABug) {
  VirtualRuntime rt;
  EXPECT_DEATH(rt.After(Duration::Nanoseconds(-1), [] {}), "negative delay");
}

}  // namespace
}  // namespace s3rdma::core
