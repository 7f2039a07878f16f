#include "models/flow_solver.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "core/check.h"

namespace s3rdma::models {
namespace {

// Relative tolerance of the optimality checks: rates and usages are sums of doubles.
constexpr double kEps = 1e-9;

// Orders FlowSolver::FillEntry as a min-heap with std::push_heap / std::pop_heap.
struct EntryGreater {
  template <typename Entry>
  bool operator()(const Entry& a, const Entry& b) const {
    if (a.level != b.level) return a.level > b.level;
    if (a.kind != b.kind) return a.kind > b.kind;
    return a.id > b.id;
  }
};

}  // namespace

FlowSolver::FlowSolver(core::VirtualRuntime& runtime)
    : runtime_(runtime), alive_(std::make_shared<bool>(true)) {}

FlowSolver::~FlowSolver() {
  *alive_ = false;
  for (Activity& a : activities_) {
    if (a.live) a.timer.Cancel();
  }
}

ResourceId FlowSolver::AddResource(std::string name, double capacity) {
  S3_CHECK_MSG(capacity > 0 && std::isfinite(capacity), "resource capacity must be > 0");
  S3_CHECK(resources_.size() < kBoundBottleneck);
  Resource r;
  r.name = std::move(name);
  r.capacity = capacity;
  r.last_ps = runtime_.Now().ps();
  resources_.push_back(std::move(r));
  return static_cast<ResourceId>(resources_.size() - 1);
}

ActivityId FlowSolver::Start(double amount, std::span<const ResourceUse> uses, double bound,
                             std::function<void()> done) {
  S3_CHECK_MSG(amount > 0 && std::isfinite(amount), "activity amount must be > 0");
  S3_CHECK_MSG(!uses.empty() || bound > 0, "an activity needs a resource or a bound");
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(activities_.size());
    activities_.emplace_back();
  }
  Activity& a = activities_[slot];
  a.live = true;
  a.remaining = amount;
  a.rate = 0;
  a.bound = bound > 0 ? bound : 0;
  a.last_ps = runtime_.Now().ps();
  a.bottleneck = kNoBottleneck;
  a.done = std::move(done);
  a.uses.clear();
  a.uses.reserve(uses.size());
  for (const ResourceUse& u : uses) {
    S3_CHECK(u.resource < resources_.size());
    S3_CHECK_MSG(u.weight > 0 && std::isfinite(u.weight), "resource weight must be > 0");
    Resource& r = resources_[u.resource];
    for (const Use& prev : a.uses) S3_CHECK_MSG(prev.resource != u.resource, "duplicate resource");
    a.uses.push_back(Use{u.resource, u.weight, static_cast<uint32_t>(r.activities.size())});
    r.activities.push_back(slot);
  }
  pending_new_.push_back(slot);
  ++active_count_;
  ++stats_.started;
  ScheduleSolve();
  return ActivityId{slot, a.gen};
}

bool FlowSolver::Cancel(ActivityId id) {
  if (Lookup(id) == nullptr) return false;
  Remove(id.slot);
  ++stats_.cancelled;
  return true;
}

const FlowSolver::Activity* FlowSolver::Lookup(ActivityId id) const {
  if (id.slot >= activities_.size()) return nullptr;
  const Activity& a = activities_[id.slot];
  return a.live && a.gen == id.gen ? &a : nullptr;
}

bool FlowSolver::Active(ActivityId id) const { return Lookup(id) != nullptr; }

double FlowSolver::Rate(ActivityId id) const {
  const Activity* a = Lookup(id);
  return a == nullptr ? 0.0 : a->rate;
}

double FlowSolver::Remaining(ActivityId id) const {
  const Activity* a = Lookup(id);
  if (a == nullptr) return 0.0;
  const double dt = static_cast<double>(runtime_.Now().ps() - a->last_ps) * 1e-12;
  return std::max(0.0, a->remaining - a->rate * dt);
}

double FlowSolver::UsedWork(ResourceId r) const {
  const Resource& res = resources_[r];
  return res.used_work + res.usage * static_cast<double>(runtime_.Now().ps() - res.last_ps) * 1e-12;
}

void FlowSolver::MarkDirty(ResourceId r) {
  Resource& res = resources_[r];
  if (!res.dirty) {
    res.dirty = true;
    dirty_.push_back(r);
  }
}

void FlowSolver::ScheduleSolve() {
  if (solve_scheduled_) return;
  solve_scheduled_ = true;
  std::weak_ptr<bool> alive = alive_;
  runtime_.Post([this, alive] {
    auto a = alive.lock();
    if (a && *a) Solve();
  });
}

void FlowSolver::SolveNowForTesting() { Solve(); }

void FlowSolver::SetUsage(Resource& r, double usage) {
  const int64_t now = runtime_.Now().ps();
  r.used_work += r.usage * static_cast<double>(now - r.last_ps) * 1e-12;
  r.last_ps = now;
  r.usage = usage < 0 ? 0 : usage;
}

void FlowSolver::Settle(Activity& a) {
  const int64_t now = runtime_.Now().ps();
  if (now != a.last_ps) {
    a.remaining -= a.rate * static_cast<double>(now - a.last_ps) * 1e-12;
    if (a.remaining < 0) a.remaining = 0;
    a.last_ps = now;
  }
}

void FlowSolver::AddResourceToRegion(ResourceId r) {
  Resource& res = resources_[r];
  if (res.mark == epoch_) return;
  res.mark = epoch_;
  region_resources_.push_back(r);
}

void FlowSolver::AddToRegion(uint32_t slot) {
  Activity& a = activities_[slot];
  if (a.mark == epoch_) return;
  a.mark = epoch_;
  region_activities_.push_back(slot);
  for (const Use& u : a.uses) AddResourceToRegion(u.resource);
}

void FlowSolver::Solve() {
  solve_scheduled_ = false;
  if (dirty_.empty() && pending_new_.empty()) return;
  ++stats_.solves;
  ++epoch_;
  if (epoch_ == 0) {  // wrapped: clear every mark so none matches by accident
    for (Resource& r : resources_) r.mark = 0;
    for (Activity& a : activities_) a.mark = 0;
    epoch_ = 1;
  }
  region_activities_.clear();
  region_resources_.clear();
  for (ResourceId r : dirty_) {
    resources_[r].dirty = false;
    AddResourceToRegion(r);
    // Only activities that depend on r may speed up; the rest are reached by widening.
    for (uint32_t slot : resources_[r].activities) {
      if (activities_[slot].bottleneck == r) AddToRegion(slot);
    }
  }
  dirty_.clear();
  for (uint32_t slot : pending_new_) {
    if (activities_[slot].live) AddToRegion(slot);
  }
  pending_new_.clear();
  for (;;) {
    FillRegion();
    if (!WidenWhereNotOptimal()) break;
    ++stats_.widenings;
  }
  stats_.activities_solved += region_activities_.size();
  Commit();
}

void FlowSolver::FillRegion() {
  for (ResourceId r : region_resources_) {
    Resource& res = resources_[r];
    res.residual = res.capacity - res.usage;
    res.weight_sum = 0;
    res.unfrozen = 0;
  }
  std::vector<FillEntry>& heap = fill_heap_;
  heap.clear();
  auto push = [&heap](const FillEntry& e) {
    heap.push_back(e);
    std::push_heap(heap.begin(), heap.end(), EntryGreater{});
  };
  for (uint32_t slot : region_activities_) {
    Activity& a = activities_[slot];
    a.frozen = false;
    a.new_rate = 0;
    a.new_bottleneck = kNoBottleneck;
    for (const Use& u : a.uses) {
      Resource& res = resources_[u.resource];
      res.residual += u.weight * a.rate;  // give back what this activity holds now
      res.weight_sum += u.weight;
      ++res.unfrozen;
    }
    if (a.bound > 0) push(FillEntry{a.bound, 1, slot, a.gen});
  }
  for (ResourceId r : region_resources_) {
    Resource& res = resources_[r];
    if (res.residual < 0) res.residual = 0;
    ++res.version;
    if (res.unfrozen > 0) push(FillEntry{res.residual / res.weight_sum, 0, r, res.version});
  }
  size_t left = region_activities_.size();
  auto freeze = [&](uint32_t slot, double rate, uint32_t bottleneck) {
    Activity& a = activities_[slot];
    a.frozen = true;
    a.new_rate = rate;
    a.new_bottleneck = bottleneck;
    --left;
    for (const Use& u : a.uses) {
      Resource& res = resources_[u.resource];
      res.residual -= u.weight * rate;
      if (res.residual < 0) res.residual = 0;
      res.weight_sum -= u.weight;
      --res.unfrozen;
      ++res.version;
      if (res.unfrozen > 0 && u.resource != bottleneck) {
        if (res.weight_sum < 0) res.weight_sum = 0;
        // Recompute the weight sum exactly when it has been eroded to noise.
        if (res.weight_sum <= 1e-300) {
          res.weight_sum = 0;
          for (uint32_t other : res.activities) {
            const Activity& o = activities_[other];
            if (o.mark != epoch_ || o.frozen) continue;
            for (const Use& ou : o.uses) {
              if (ou.resource == u.resource) res.weight_sum += ou.weight;
            }
          }
        }
        push(FillEntry{res.residual / res.weight_sum, 0, u.resource, res.version});
      }
    }
  };
  while (left > 0) {
    S3_CHECK_MSG(!heap.empty(), "flow solver: unfrozen activities but nothing to saturate");
    std::pop_heap(heap.begin(), heap.end(), EntryGreater{});
    const FillEntry e = heap.back();
    heap.pop_back();
    if (e.kind == 1) {
      Activity& a = activities_[e.id];
      if (a.frozen) continue;
      freeze(e.id, e.level, kBoundBottleneck);
      continue;
    }
    Resource& res = resources_[e.id];
    if (e.version != res.version || res.unfrozen == 0) continue;
    const double level = e.level;
    // Freeze every unfrozen region activity on this resource at the common level.
    // Iterate over a copy of the indices: freeze() does not change resource lists.
    for (uint32_t slot : res.activities) {
      Activity& a = activities_[slot];
      if (a.mark != epoch_ || a.frozen) continue;
      freeze(slot, level, e.id);
    }
  }
}

bool FlowSolver::WidenWhereNotOptimal() {
  std::vector<ResourceId>& widen = widen_;
  widen.clear();
  const size_t n = region_resources_.size();
  for (size_t i = 0; i < n; ++i) {
    Resource& res = resources_[region_resources_[i]];
    res.region_old_bn = 0;
    res.region_new_bn = 0;
  }
  for (uint32_t slot : region_activities_) {
    const Activity& a = activities_[slot];
    if (a.bottleneck < kBoundBottleneck) ++resources_[a.bottleneck].region_old_bn;
    if (a.new_bottleneck < kBoundBottleneck) ++resources_[a.new_bottleneck].region_new_bn;
  }
  for (size_t i = 0; i < n; ++i) {
    const ResourceId r = region_resources_[i];
    const Resource& res = resources_[r];
    // Nothing to check where no activity (inside or outside) is bottlenecked: such a
    // resource constrains nobody's rate, however many activities cross it.
    if (res.bottlenecked == res.region_old_bn && res.region_new_bn == 0) continue;
    double usage = 0;
    double max_rate = 0;
    double max_outside = 0;
    bool outside_bottlenecked_here = false;
    for (uint32_t slot : res.activities) {
      const Activity& a = activities_[slot];
      const bool inside = a.mark == epoch_;
      const double rate = inside ? a.new_rate : a.rate;
      for (const Use& u : a.uses) {
        if (u.resource == r) usage += u.weight * rate;
      }
      max_rate = std::max(max_rate, rate);
      if (!inside) {
        max_outside = std::max(max_outside, a.rate);
        if (a.bottleneck == r) outside_bottlenecked_here = true;
      }
    }
    bool bad = false;
    if (outside_bottlenecked_here) {
      const bool saturated = usage >= res.capacity * (1 - kEps);
      if (!saturated) {
        bad = true;
      } else {
        for (uint32_t slot : res.activities) {
          const Activity& a = activities_[slot];
          if (a.mark != epoch_ && a.bottleneck == r && a.rate < max_rate * (1 - kEps)) {
            bad = true;
            break;
          }
        }
      }
    }
    if (!bad && max_outside > 0) {
      for (uint32_t slot : res.activities) {
        const Activity& a = activities_[slot];
        if (a.mark == epoch_ && a.new_bottleneck == r && a.new_rate < max_outside * (1 - kEps)) {
          bad = true;
          break;
        }
      }
    }
    if (bad) widen.push_back(r);
  }
  for (ResourceId r : widen) {
    for (uint32_t slot : resources_[r].activities) AddToRegion(slot);
  }
  return !widen.empty();
}

void FlowSolver::Commit() {
  for (uint32_t slot : region_activities_) {
    Activity& a = activities_[slot];
    if (a.bottleneck != a.new_bottleneck) {
      if (a.bottleneck < kBoundBottleneck) --resources_[a.bottleneck].bottlenecked;
      if (a.new_bottleneck < kBoundBottleneck) ++resources_[a.new_bottleneck].bottlenecked;
      a.bottleneck = a.new_bottleneck;
    }
    if (a.new_rate == a.rate && (a.rate == 0 || a.timer.Pending())) continue;
    Settle(a);
    for (const Use& u : a.uses) {
      Resource& res = resources_[u.resource];
      SetUsage(res, res.usage + u.weight * (a.new_rate - a.rate));
      ++res.updates;
    }
    a.rate = a.new_rate;
    ScheduleCompletion(slot);
  }
  // Now and then, the exact sum: incremental +=/-= must not drift over millions of events.
  for (ResourceId r : region_resources_) {
    Resource& res = resources_[r];
    if (res.updates < 64 + res.activities.size() / 4) continue;
    res.updates = 0;
    double usage = 0;
    for (uint32_t slot : res.activities) {
      const Activity& a = activities_[slot];
      for (const Use& u : a.uses) {
        if (u.resource == r) usage += u.weight * a.rate;
      }
    }
    SetUsage(res, usage);
  }
}

void FlowSolver::ScheduleCompletion(uint32_t slot) {
  Activity& a = activities_[slot];
  if (a.timer.Cancel()) ++stats_.reschedules;
  if (a.rate <= 0) return;
  const double seconds = a.remaining / a.rate;
  // Round up to a whole picosecond so the work is really done when the timer fires.
  double ps = std::ceil(seconds * 1e12);
  // A rate so small that the end is beyond representable time: finish at the end of time
  // (no overflow; the run's report shows the absurd makespan).
  const double room = static_cast<double>(std::numeric_limits<int64_t>::max() - runtime_.Now().ps()) - 1e6;
  if (!(ps <= room)) ps = room;
  const uint32_t gen = a.gen;
  a.timer = runtime_.After(core::Duration::Picoseconds(static_cast<int64_t>(ps)),
                           [this, slot, gen] {
                             if (activities_[slot].live && activities_[slot].gen == gen) {
                               Complete(slot);
                             }
                           });
}

void FlowSolver::Complete(uint32_t slot) {
  std::function<void()> done = std::move(activities_[slot].done);
  Remove(slot);
  ++stats_.completed;
  if (done) done();
}

void FlowSolver::Remove(uint32_t slot) {
  Activity& a = activities_[slot];
  a.timer.Cancel();
  if (a.bottleneck < kBoundBottleneck) --resources_[a.bottleneck].bottlenecked;
  a.bottleneck = kNoBottleneck;
  for (const Use& u : a.uses) {
    Resource& res = resources_[u.resource];
    const uint32_t last = res.activities.back();
    res.activities[u.pos] = last;
    res.activities.pop_back();
    if (last != slot) {
      for (Use& mu : activities_[last].uses) {
        if (mu.resource == u.resource) {
          mu.pos = u.pos;
          break;
        }
      }
    }
    SetUsage(res, res.usage - u.weight * a.rate);
    ++res.updates;
    // Freed capacity matters only to activities bottlenecked on this resource.
    if (res.bottlenecked > 0) MarkDirty(u.resource);
  }
  a.uses.clear();
  a.live = false;
  ++a.gen;
  a.rate = 0;
  a.done = nullptr;
  a.timer = core::TimerHandle();
  --active_count_;
  free_slots_.push_back(slot);
  ScheduleSolve();
}

}  // namespace s3rdma::models
