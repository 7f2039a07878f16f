// FlowSolver: flow-level sharing of capacities, max-min fair, in virtual time.
//
// Every hardware resource (a link direction, a NIC port, a drive pool's bandwidth or IOPS,
// CPU cores, a PCIe link, a memory bus, a GPU) is a Resource with a capacity in its own
// units per second. An Activity (a transfer, a copy, a compute step, a CPU burst) has an
// amount of work and uses several resources: at rate r it consumes weight * r of each
// (a TCP transfer at r bytes/s might use 1 * r of each link and 0.4e-9 * r core-seconds/s
// of CPU). Activities may also have a rate bound (one core, one TCP stream's ceiling).
//
// Rates are the weighted max-min fair allocation (SimGrid's LMM, progressive filling):
// no activity's rate can grow without shrinking that of another activity whose rate is
// not larger. The allocation is recomputed incrementally, once per virtual instant
// (batched with Post): the region to refill starts with the new activities and the
// activities of resources that lost an activity and are someone's bottleneck; it is
// refilled against the capacity the other activities hold; then the max-min optimality
// condition (every activity has a bottleneck: a saturated resource on which its rate is
// the largest, or its bound) is checked where the region touches the rest, and the
// region widens only where it fails. A shared but unsaturated resource (a spine link)
// does not couple its activities, so typically a few dozen activities are touched per
// event even with 10^5 active; the worst case is the whole connected component.
//
// Completion: each activity has one timer on the VirtualRuntime at
// now + ceil(remaining / rate) (integer picoseconds); it is cancelled and rescheduled
// whenever the rate changes. The callback runs in virtual time after the activity has
// been removed, so it may start or cancel activities.
//
// Determinism: iteration is over vectors in insertion order and ties break by id, so the
// same sequence of calls gives bit-identical rates and event times.
// Threading: single-threaded, like the runtime.
#ifndef S3RDMA_MODELS_FLOW_SOLVER_H_
#define S3RDMA_MODELS_FLOW_SOLVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/time.h"
#include "core/virtual_runtime.h"

namespace s3rdma::models {

using ResourceId = uint32_t;

// A handle to an activity: slot and generation, so stale handles are recognised.
struct ActivityId {
  uint32_t slot = UINT32_MAX;
  uint32_t gen = 0;
  bool valid() const { return slot != UINT32_MAX; }
};

struct ResourceUse {
  ResourceId resource;
  double weight;  // resource units consumed per unit of activity rate; > 0
};

class FlowSolver {
 public:
  struct Stats {
    uint64_t started = 0;
    uint64_t completed = 0;
    uint64_t cancelled = 0;
    uint64_t solves = 0;            // batched recomputations
    uint64_t activities_solved = 0;  // sum over solves of activities refilled
    uint64_t widenings = 0;          // times a solve had to widen its region
    uint64_t reschedules = 0;        // completion timers moved
  };

  explicit FlowSolver(core::VirtualRuntime& runtime);
  FlowSolver(const FlowSolver&) = delete;
  FlowSolver& operator=(const FlowSolver&) = delete;
  ~FlowSolver();

  // A resource with `capacity` units per second (> 0). Names are for reports.
  ResourceId AddResource(std::string name, double capacity);

  // Starts an activity of `amount` (> 0) work units using `uses` (may be empty only if
  // bound > 0). `bound` <= 0 means unbounded. `done` runs when the work is finished.
  // A resource may appear at most once in `uses`.
  ActivityId Start(double amount, std::span<const ResourceUse> uses, double bound,
                   std::function<void()> done);
  // Stops an activity without running its callback. Returns false for stale handles.
  bool Cancel(ActivityId id);

  // Current rate of an activity (0 before the solve of its start instant has run).
  double Rate(ActivityId id) const;
  // Work left at Now().
  double Remaining(ActivityId id) const;
  bool Active(ActivityId id) const;

  size_t resource_count() const { return resources_.size(); }
  const std::string& name(ResourceId r) const { return resources_[r].name; }
  double capacity(ResourceId r) const { return resources_[r].capacity; }
  // Units per second in use right now.
  double usage(ResourceId r) const { return resources_[r].usage; }
  // Integral of usage over time since the start, in units (i.e. work done), up to Now().
  double UsedWork(ResourceId r) const;
  size_t active() const { return active_count_; }
  const Stats& stats() const { return stats_; }

  // Runs any pending solve now (tests use it to read rates without running the runtime).
  void SolveNowForTesting();

 private:
  static constexpr uint32_t kNoBottleneck = UINT32_MAX;
  static constexpr uint32_t kBoundBottleneck = UINT32_MAX - 1;

  struct Use {
    ResourceId resource;
    double weight;
    uint32_t pos;  // index of this activity in the resource's `activities`
  };
  struct Resource {
    std::string name;
    double capacity = 0;
    double usage = 0;        // sum of weight * rate over its activities
    double used_work = 0;    // integral of usage up to last_ps
    int64_t last_ps = 0;
    std::vector<uint32_t> activities;  // activity slots
    uint32_t bottlenecked = 0;  // live activities whose committed bottleneck is this resource
    uint32_t updates = 0;       // incremental usage updates since the last exact sum
    // Solve scratch.
    uint32_t mark = 0;       // == epoch_ when in the current region
    bool dirty = false;
    double residual = 0;     // capacity left for region activities not yet frozen
    double weight_sum = 0;   // of unfrozen region activities
    uint32_t unfrozen = 0;   // unfrozen region activities on it
    uint32_t version = 0;    // heap entry validity
    uint32_t region_old_bn = 0;  // region activities whose committed bottleneck is this
    uint32_t region_new_bn = 0;  // region activities whose new bottleneck is this
  };
  struct Activity {
    std::vector<Use> uses;
    double remaining = 0;
    double rate = 0;
    double bound = 0;
    int64_t last_ps = 0;
    uint32_t gen = 1;
    bool live = false;
    uint32_t bottleneck = kNoBottleneck;
    core::TimerHandle timer;
    std::function<void()> done;
    // Solve scratch.
    uint32_t mark = 0;  // == epoch_ when in the region
    bool frozen = false;
    double new_rate = 0;
    uint32_t new_bottleneck = kNoBottleneck;
  };

  // Progressive-filling heap entry: the level at which a resource saturates (kind 0) or
  // an activity's bound (kind 1). Ties break by kind then id: deterministic fills.
  struct FillEntry {
    double level;
    uint32_t kind;
    uint32_t id;
    uint32_t version;
  };

  void MarkDirty(ResourceId r);
  void ScheduleSolve();
  void Solve();
  // Adds activity `a` and its resources to the current region.
  void AddToRegion(uint32_t a);
  void AddResourceToRegion(ResourceId r);
  void FillRegion();
  // Returns true if the region had to grow (the fill must be redone).
  bool WidenWhereNotOptimal();
  void Commit();
  void SetUsage(Resource& r, double usage);
  void Settle(Activity& a);
  void ScheduleCompletion(uint32_t slot);
  void Complete(uint32_t slot);
  void Remove(uint32_t slot);
  const Activity* Lookup(ActivityId id) const;

  core::VirtualRuntime& runtime_;
  std::vector<Resource> resources_;
  std::vector<Activity> activities_;
  std::vector<uint32_t> free_slots_;
  size_t active_count_ = 0;
  bool solve_scheduled_ = false;
  std::vector<ResourceId> dirty_;
  std::vector<uint32_t> pending_new_;  // started activities that use no resource
  // Region of the current solve.
  uint32_t epoch_ = 0;
  std::vector<uint32_t> region_activities_;
  std::vector<ResourceId> region_resources_;
  std::vector<FillEntry> fill_heap_;   // reused by every fill (no allocation per solve)
  std::vector<ResourceId> widen_;      // reused by every optimality check
  Stats stats_;
  // Set on destruction so pending posted solves become no-ops.
  std::shared_ptr<bool> alive_;
};

}  // namespace s3rdma::models

#endif  // S3RDMA_MODELS_FLOW_SOLVER_H_
