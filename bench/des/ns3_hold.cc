// Hold model on ns-3's own simulator and schedulers; see hold.h. Kept in its own
// translation unit so that ns-3's headers are compiled once and never meet ours.
#include <memory>

#include <ns3/nstime.h>
#include <ns3/object-factory.h>
#include <ns3/simulator.h>

#include "bench/des/hold.h"
#include "core/rng.h"

namespace s3rdma::bench {
namespace {

// ns-3's simulator is a process-wide singleton and its Schedule takes a plain function,
// so the state lives behind a file-level pointer for the duration of one run.
struct Ns3Hold {
  explicit Ns3Hold(uint64_t seed) : rng(seed) {}
  core::Rng rng;
  HoldCounters counters;
};
Ns3Hold* g_hold = nullptr;

// Mirrors S3rdmaHold::Fire in s3rdma_hold.cc.
void Fire() {
  Ns3Hold& h = *g_hold;
  const int64_t delay_ns = h.rng.Uniform(kMinDelayNs, kMaxDelayNs);
  ns3::Simulator::Schedule(ns3::NanoSeconds(delay_ns), &Fire);
  if (h.counters.NoteExecuted(ns3::Simulator::Now().GetNanoSeconds())) ns3::Simulator::Stop();
}

}  // namespace

HoldResult RunNs3Hold(const std::string& type_id, const HoldConfig& config) {
  auto hold = std::make_unique<Ns3Hold>(config.seed);
  g_hold = hold.get();
  ns3::ObjectFactory factory;
  factory.SetTypeId(type_id);
  ns3::Simulator::SetScheduler(factory);
  const HoldResult result = DriveHold(
      config, hold->counters,
      [&] {
        for (uint64_t i = 0; i < config.pending; ++i) {
          const int64_t delay_ns = hold->rng.Uniform(kMinDelayNs, kMaxDelayNs);
          ns3::Simulator::Schedule(ns3::NanoSeconds(delay_ns), &Fire);
        }
      },
      [] { ns3::Simulator::Run(); });
  ns3::Simulator::Destroy();
  g_hold = nullptr;
  return result;
}

}  // namespace s3rdma::bench
