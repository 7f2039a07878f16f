// InProcFabric: a fabric inside one process, for tests, simulation and in-process benchmarks.
//
// Every attached port has an egress link of `link_rate` (0 = unlimited) followed by a fixed
// `latency`; a packet is delivered at max(now, link free) + serialisation time + latency,
// where the serialised size is the whole Ethernet frame plus 24 bytes of preamble, FCS and
// inter-frame gap. Packets on one link stay in order unless a fault reorders them.
// Packets are moved, never encoded: no per-packet byte copy, no ICRC computation, except
// for packets chosen for corruption (encoded, a bit flipped, then checked as a receiving
// NIC would: the ICRC fails and the packet is dropped and counted).
//
// Determinism: under core::VirtualRuntime the delivery order and every fault decision depend
// only on the seed and the sequence of calls. Fault draws come from core::Rng(seed)
// forked per sending port ("inproc/<ipv4>"), so traffic of one port does not shift the faults
// of another. With all probabilities 0 (the default) no random number is drawn.
//
// Threading and ownership: see emu/fabric.h. The fabric must outlive its ports and must not
// be destroyed while the runtime still runs its tasks unless those tasks may be dropped
// (they hold only a weak reference and do nothing once the fabric is gone).
#ifndef S3RDMA_EMU_INPROC_FABRIC_H_
#define S3RDMA_EMU_INPROC_FABRIC_H_

#include <cstdint>
#include <memory>

#include "core/rng.h"
#include "core/runtime.h"
#include "core/status.h"
#include "core/time.h"
#include "core/units.h"
#include "emu/fabric.h"

namespace s3rdma::emu {

// Faults the fabric injects, each an independent probability per packet sent. Off by default.
struct FaultConfig {
  double drop_probability = 0.0;       // the packet vanishes
  double duplicate_probability = 0.0;  // delivered twice (the copy up to max_extra_delay later)
  double reorder_probability = 0.0;    // this packet alone is held back up to max_extra_delay,
                                       // so packets sent after it overtake it
  double corrupt_probability = 0.0;    // one bit the ICRC covers flipped; the receiving
                                       // port's ICRC check drops the packet
  double delay_probability = 0.0;      // the link stalls up to max_extra_delay (this packet and
                                       // everything queued behind it: delay, no reordering)
  core::Duration max_extra_delay = core::Duration::Microseconds(50);

  // InvalidArgument unless every probability is in [0, 1] and max_extra_delay > 0.
  core::Status Validate() const;
  bool any() const;
};

struct InProcConfig {
  core::Duration latency = core::Duration::Zero();  // propagation + switching, per packet
  core::DataRate link_rate;                         // per sending port; 0 bps = unlimited
  FaultConfig faults;
  uint64_t seed = 1;

  core::Status Validate() const;
};

// What the fabric did, summed over all ports. Counts are packets.
struct InProcStats {
  uint64_t sent = 0;           // Send calls accepted
  uint64_t delivered = 0;      // callbacks invoked (duplicates count twice)
  uint64_t dropped = 0;        // injected drops
  uint64_t duplicated = 0;     // injected extra copies
  uint64_t reordered = 0;      // packets held back by reorder faults
  uint64_t corrupted = 0;      // packets corrupted (all of them failed the ICRC and were dropped)
  uint64_t corrupt_delivered = 0;  // corrupted packets that still decoded (should stay 0)
  uint64_t delayed = 0;        // link stalls injected
  uint64_t no_route = 0;       // destination not attached (at send or at delivery time)
};

class InProcFabric final : public Fabric {
 public:
  // REQUIRES: config.Validate().ok() (checked). `runtime` must outlive the fabric.
  InProcFabric(core::Runtime& runtime, InProcConfig config = {});
  ~InProcFabric() override;
  InProcFabric(const InProcFabric&) = delete;
  InProcFabric& operator=(const InProcFabric&) = delete;

  core::Result<std::unique_ptr<FabricPort>> Attach(const NodeAddress& address,
                                                   ReceiveCallback on_receive) override;
  core::Runtime& runtime() override { return runtime_; }

  // Changes faults from now on (e.g. heal the network mid-test). REQUIRES: valid.
  void SetFaults(const FaultConfig& faults);
  const InProcConfig& config() const;
  const InProcStats& stats() const;

  struct Impl;  // internal: links, queues, ports; shared with ports and pending tasks

 private:
  core::Runtime& runtime_;
  std::shared_ptr<Impl> impl_;
};

}  // namespace s3rdma::emu

#endif  // S3RDMA_EMU_INPROC_FABRIC_H_
