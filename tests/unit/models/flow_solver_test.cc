#include "models/flow_solver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <vector>

#include "core/rng.h"
#include "core/virtual_runtime.h"

namespace s3rdma::models {
namespace {

using core::Duration;
using core::Time;

ActivityId StartOn(FlowSolver& s, double amount, std::vector<ResourceUse> uses, double bound = 0,
                   std::function<void()> done = nullptr) {
  return s.Start(amount, uses, bound, std::move(done));
}

TEST(FlowSolverTest, TwoFlowsShareOneLinkThenTheSurvivorSpeedsUp) {
  core::VirtualRuntime rt;
  FlowSolver s(rt);
  ResourceId link = s.AddResource("link", 10.0);  // 10 units/s
  Time t1, t2;
  StartOn(s, 10.0, {{link, 1.0}}, 0, [&] { t1 = rt.Now(); });
  StartOn(s, 20.0, {{link, 1.0}}, 0, [&] { t2 = rt.Now(); });
  rt.Run();
  // 5 units/s each until t=2 s (first done), then 10 units left at 10 units/s: t=3 s.
  EXPECT_EQ(t1, Time::Zero() + Duration::Seconds(2));
  EXPECT_EQ(t2, Time::Zero() + Duration::Seconds(3));
  EXPECT_NEAR(s.UsedWork(link), 30.0, 1e-9);
  EXPECT_EQ(s.active(), 0u);
}

TEST(FlowSolverTest, ClassicMaxMinWithTwoBottlenecks) {
  core::VirtualRuntime rt;
  FlowSolver s(rt);
  ResourceId a = s.AddResource("A", 10.0);
  ResourceId b = s.AddResource("B", 4.0);
  ActivityId f1 = StartOn(s, 1e9, {{a, 1.0}});
  ActivityId f2 = StartOn(s, 1e9, {{a, 1.0}, {b, 1.0}});
  ActivityId f3 = StartOn(s, 1e9, {{b, 1.0}});
  s.SolveNowForTesting();
  // B saturates first at level 2 (f2, f3); f1 takes the rest of A: 8.
  EXPECT_DOUBLE_EQ(s.Rate(f2), 2.0);
  EXPECT_DOUBLE_EQ(s.Rate(f3), 2.0);
  EXPECT_DOUBLE_EQ(s.Rate(f1), 8.0);
  EXPECT_DOUBLE_EQ(s.usage(a), 10.0);
  EXPECT_DOUBLE_EQ(s.usage(b), 4.0);
  // Cancelling f3: B (cap 4) saturates before A (level 5): f2 = 4, f1 = 10 - 4 = 6.
  s.Cancel(f3);
  s.SolveNowForTesting();
  EXPECT_DOUBLE_EQ(s.Rate(f2), 4.0);
  EXPECT_DOUBLE_EQ(s.Rate(f1), 6.0);
}

TEST(FlowSolverTest, CpuWeightMakesTcpCpuBound) {
  core::VirtualRuntime rt;
  FlowSolver s(rt);
  ResourceId link = s.AddResource("link", 10.0);
  ResourceId cpu = s.AddResource("cpu", 2.0);  // two cores
  // The "TCP" flow spends 0.5 core-seconds per unit: CPU saturates at rate 4.
  ActivityId tcp = StartOn(s, 1e9, {{link, 1.0}, {cpu, 0.5}});
  ActivityId rdma = StartOn(s, 1e9, {{link, 1.0}});
  s.SolveNowForTesting();
  EXPECT_DOUBLE_EQ(s.Rate(tcp), 4.0);
  EXPECT_DOUBLE_EQ(s.Rate(rdma), 6.0);
  EXPECT_DOUBLE_EQ(s.usage(cpu), 2.0);
}

TEST(FlowSolverTest, BoundsCapAFlowAndTheRestGoesToOthers) {
  core::VirtualRuntime rt;
  FlowSolver s(rt);
  ResourceId link = s.AddResource("link", 10.0);
  ActivityId slow = StartOn(s, 1e9, {{link, 1.0}}, 3.0);
  ActivityId fast = StartOn(s, 1e9, {{link, 1.0}});
  ActivityId alone = StartOn(s, 6.0, {}, 2.0);  // no resource, only a bound: 3 s
  s.SolveNowForTesting();
  EXPECT_DOUBLE_EQ(s.Rate(slow), 3.0);
  EXPECT_DOUBLE_EQ(s.Rate(fast), 7.0);
  EXPECT_DOUBLE_EQ(s.Rate(alone), 2.0);
  rt.RunUntil(Time::Zero() + Duration::Seconds(3));
  EXPECT_FALSE(s.Active(alone));
  EXPECT_TRUE(s.Active(slow));
}

TEST(FlowSolverTest, RateChangeReschedulesCompletion) {
  core::VirtualRuntime rt;
  FlowSolver s(rt);
  ResourceId link = s.AddResource("link", 8.0);
  Time done_at;
  StartOn(s, 16.0, {{link, 1.0}}, 0, [&] { done_at = rt.Now(); });
  // At t=1 s a second flow joins: first has 8 left at 4/s -> done at 3 s.
  rt.After(Duration::Seconds(1), [&] { StartOn(s, 100.0, {{link, 1.0}}); });
  rt.RunUntil(Time::Zero() + Duration::Seconds(10));
  EXPECT_EQ(done_at, Time::Zero() + Duration::Seconds(3));
}

TEST(FlowSolverTest, StaleHandlesAreRejected) {
  core::VirtualRuntime rt;
  FlowSolver s(rt);
  ResourceId link = s.AddResource("link", 1.0);
  ActivityId f = StartOn(s, 1.0, {{link, 1.0}});
  rt.Run();
  EXPECT_FALSE(s.Active(f));
  EXPECT_FALSE(s.Cancel(f));
  ActivityId g = StartOn(s, 1.0, {{link, 1.0}});  // reuses the slot, new generation
  EXPECT_EQ(g.slot, f.slot);
  EXPECT_FALSE(s.Cancel(f));
  EXPECT_TRUE(s.Cancel(g));
}

// Reference: plain progressive filling over all activities, from scratch.
std::vector<double> ReferenceMaxMin(const std::vector<double>& caps,
                                    const std::vector<std::vector<ResourceUse>>& uses,
                                    const std::vector<double>& bounds) {
  const size_t n = uses.size();
  std::vector<double> rate(n, 0);
  std::vector<bool> frozen(n, false);
  size_t left = n;
  while (left > 0) {
    double level = std::numeric_limits<double>::infinity();
    for (size_t r = 0; r < caps.size(); ++r) {
      double used = 0, w = 0;
      for (size_t i = 0; i < n; ++i) {
        for (const auto& u : uses[i]) {
          if (u.resource != r) continue;
          if (frozen[i]) used += u.weight * rate[i];
          else w += u.weight;
        }
      }
      if (w > 0) level = std::min(level, std::max(0.0, caps[r] - used) / w);
    }
    for (size_t i = 0; i < n; ++i) {
      if (!frozen[i] && bounds[i] > 0) level = std::min(level, bounds[i]);
    }
    // Freeze activities on resources saturated at this level, and bounded ones.
    std::vector<bool> sat(caps.size(), false);
    for (size_t r = 0; r < caps.size(); ++r) {
      double used = 0, w = 0;
      for (size_t i = 0; i < n; ++i) {
        for (const auto& u : uses[i]) {
          if (u.resource != r) continue;
          if (frozen[i]) used += u.weight * rate[i];
          else w += u.weight;
        }
      }
      if (w > 0 && std::max(0.0, caps[r] - used) / w <= level * (1 + 1e-12)) sat[r] = true;
    }
    for (size_t i = 0; i < n; ++i) {
      if (frozen[i]) continue;
      bool f = bounds[i] > 0 && bounds[i] <= level * (1 + 1e-12);
      for (const auto& u : uses[i]) f = f || sat[u.resource];
      if (f) {
        frozen[i] = true;
        rate[i] = level;
        --left;
      }
    }
  }
  return rate;
}

TEST(FlowSolverTest, IncrementalSolveMatchesFromScratchReference) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    core::Rng rng(seed);
    core::VirtualRuntime rt;
    FlowSolver s(rt);
    const int nres = 3 + static_cast<int>(rng.Below(12));
    std::vector<double> caps;
    for (int r = 0; r < nres; ++r) {
      caps.push_back(1.0 + static_cast<double>(rng.Below(100)));
      s.AddResource("r" + std::to_string(r), caps.back());
    }
    struct Live {
      ActivityId id;
      std::vector<ResourceUse> uses;
      double bound;
    };
    std::vector<Live> live;
    for (int step = 0; step < 60; ++step) {
      if (!live.empty() && rng.Bernoulli(0.35)) {
        const size_t k = rng.Below(live.size());
        ASSERT_TRUE(s.Cancel(live[k].id));
        live.erase(live.begin() + static_cast<long>(k));
      } else {
        std::vector<ResourceUse> uses;
        const int deg = 1 + static_cast<int>(rng.Below(3));
        for (int d = 0; d < deg; ++d) {
          const ResourceId r = static_cast<ResourceId>(rng.Below(static_cast<uint64_t>(nres)));
          bool dup = false;
          for (const auto& u : uses) dup = dup || u.resource == r;
          if (!dup) uses.push_back({r, rng.Bernoulli(0.3) ? 0.1 + rng.NextDouble() * 3 : 1.0});
        }
        const double bound = rng.Bernoulli(0.2) ? 1.0 + static_cast<double>(rng.Below(30)) : 0;
        live.push_back({s.Start(1e12, uses, bound, nullptr), uses, bound});
      }
      if (rng.Bernoulli(0.5)) continue;  // sometimes batch several changes in one solve
      s.SolveNowForTesting();
      std::vector<std::vector<ResourceUse>> uses;
      std::vector<double> bounds;
      for (const auto& l : live) {
        uses.push_back(l.uses);
        bounds.push_back(l.bound);
      }
      const std::vector<double> want = ReferenceMaxMin(caps, uses, bounds);
      for (size_t i = 0; i < live.size(); ++i) {
        ASSERT_NEAR(s.Rate(live[i].id), want[i], 1e-6 * std::max(1.0, want[i]))
            << "step " << step << " activity " << i;
      }
    }
  }
}

TEST(FlowSolverTest, ManyFlowsOnAStarConserveWorkAndFinish) {
  // 64 servers, 256 clients, 4 streams each of 8 back-to-back transfers: every byte is
  // accounted for on the server links and nothing is left running.
  core::VirtualRuntime rt;
  FlowSolver s(rt);
  core::Rng rng(7);
  std::vector<ResourceId> server, client;
  for (int i = 0; i < 64; ++i) server.push_back(s.AddResource("s", 50e9));
  for (int i = 0; i < 256; ++i) client.push_back(s.AddResource("c", 50e9));
  // A spine every flow crosses, never saturated: it must not couple the flows' rates.
  const ResourceId spine = s.AddResource("spine", 1e15);
  uint64_t done = 0;
  std::function<void(int, int)> next = [&](int c, int left) {
    if (left == 0) return;
    const ResourceId srv = server[rng.Below(server.size())];
    std::vector<ResourceUse> uses{{srv, 1.0}, {spine, 1.0}, {client[c], 1.0}};
    s.Start(64e6, uses, 0, [&, c, left] {
      ++done;
      next(c, left - 1);
    });
  };
  for (int c = 0; c < 256; ++c) {
    for (int q = 0; q < 4; ++q) next(c, 8);
  }
  rt.Run();
  EXPECT_EQ(done, 256u * 4 * 8);
  double work = 0;
  for (ResourceId r : server) work += s.UsedWork(r);
  EXPECT_NEAR(work, 256.0 * 4 * 8 * 64e6, 1e-6 * 256.0 * 4 * 8 * 64e6);
  EXPECT_EQ(s.active(), 0u);
  // Incremental: a solve refills about one server's flows (1024 / 64 = 16 on average), not
  // the 1024 flows a full recompute through the shared spine would touch.
  EXPECT_LT(s.stats().activities_solved, s.stats().solves * 64);
  EXPECT_NEAR(s.UsedWork(spine), work, 1e-6 * work);
}

}  // namespace
}  // namespace s3rdma::models
