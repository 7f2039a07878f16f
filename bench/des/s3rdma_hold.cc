// Hold model on s3rdma's core::VirtualRuntime; see hold.h.
#include <memory>

#include "bench/des/hold.h"
#include "core/rng.h"
#include "core/virtual_runtime.h"

namespace s3rdma::bench {
namespace {

// Fire() mirrors ns3_hold.cc's Fire() line for line: draw, schedule, count, maybe stop.
struct S3rdmaHold {
  explicit S3rdmaHold(uint64_t seed) : rng(seed) {}

  void Fire() {
    const int64_t delay_ns = rng.Uniform(kMinDelayNs, kMaxDelayNs);
    rt.After(core::Duration::Nanoseconds(delay_ns), [this] { Fire(); });
    if (counters.NoteExecuted(rt.Now().ns())) rt.Stop();
  }

  core::VirtualRuntime rt;
  core::Rng rng;
  HoldCounters counters;
};

}  // namespace

HoldResult RunS3rdmaHold(const HoldConfig& config) {
  auto hold = std::make_unique<S3rdmaHold>(config.seed);
  S3rdmaHold* h = hold.get();
  return DriveHold(
      config, h->counters,
      [&] {
        for (uint64_t i = 0; i < config.pending; ++i) {
          const int64_t delay_ns = h->rng.Uniform(kMinDelayNs, kMaxDelayNs);
          h->rt.After(core::Duration::Nanoseconds(delay_ns), [h] { h->Fire(); });
        }
      },
      [&] { h->rt.Run(); });
}

}  // namespace s3rdma::bench
