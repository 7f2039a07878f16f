// ModelFabric: an emu::Fabric whose RoCEv2 packets cross the scenario's modelled network,
// so the real RC engine, RdmaServer and RdmaClient run over a simulated cluster
// (docs/protocol-mode.md).
//
// Two fidelities:
// - kPacket: every packet is store-and-forwarded through per-link FIFO queues (the sender's
//   NIC tx, the leaf uplink and the destination leaf's downlink when the route crosses the
//   spine, the receiver's NIC rx), each serialising the whole frame (Ethernet/IPv4/UDP
//   headers, BTH.., ICRC, plus 24 bytes of preamble/FCS/gap) at the resource's capacity, with
//   the fabric's per-link latency after each hop. Seeded faults as InProcFabric's FaultConfig
//   (drop, duplicate, reorder, delay; a corrupted packet fails the receiver's ICRC, so it is
//   counted and dropped). Resource use is accounted per packet (ExtraUsedWork).
// - kFlow: the fabric advertises a message MTU of 1 GiB (emu::Fabric::message_mtu_bytes), so
//   one RDMA message is one packet; a packet with a payload becomes one activity in the
//   models::FlowSolver over exactly the resources ClusterModel::Transfer would use between
//   the two nodes' data endpoints (drives, memory, PCIe, GPU PCIe, NIC, leaf links), shared
//   max-min with every other flow, delivered when it completes (after the route latency).
//   Packets without a payload (ACKs, READ requests) take the route latency only.
//   Deliveries between one pair of ports keep their send order (a link is a FIFO).
// Payloads may be phantom (sizes only; emu::Fabric::phantom_payloads), so large clusters
// need no memory for object bytes.
//
// Determinism: everything is ordered by the VirtualRuntime and the per-port Rng forks.
// Threading and ownership: emu/fabric.h. The runtime, solver and cluster outlive the fabric.
#ifndef S3RDMA_SIM_MODEL_FABRIC_H_
#define S3RDMA_SIM_MODEL_FABRIC_H_

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "core/virtual_runtime.h"
#include "emu/fabric.h"
#include "emu/inproc_fabric.h"
#include "models/cluster.h"
#include "models/flow_solver.h"

namespace s3rdma::sim {

enum class NetworkFidelity { kFlow, kPacket };

struct ModelFabricConfig {
  NetworkFidelity fidelity = NetworkFidelity::kFlow;
  bool phantom_payloads = false;
  emu::FaultConfig faults;  // packet fidelity only
  uint64_t seed = 1;
};

struct ModelFabricStats {
  uint64_t packets = 0;          // Send calls accepted
  uint64_t delivered = 0;
  uint64_t flows = 0;            // flow fidelity: activities started
  uint64_t payload_bytes = 0;    // payload bytes sent
  uint64_t dropped = 0;          // injected drops (and corruptions)
  uint64_t duplicated = 0;
  uint64_t reordered = 0;
  uint64_t no_route = 0;
};

class ModelFabric final : public emu::Fabric {
 public:
  // REQUIRES: cluster sealed; config.faults valid.
  ModelFabric(core::VirtualRuntime& runtime, models::FlowSolver& solver,
              const models::ClusterModel& cluster, ModelFabricConfig config);
  ~ModelFabric() override;
  ModelFabric(const ModelFabric&) = delete;
  ModelFabric& operator=(const ModelFabric&) = delete;

  // Places `address` on model node `node`; the bytes of RDMA payloads it sends or receives
  // live at `data` (e.g. a storage node's drives, a client's GPU). Before Attach.
  void MapNode(uint32_t ipv4, models::Endpoint data);

  core::Result<std::unique_ptr<emu::FabricPort>> Attach(const emu::NodeAddress& address,
                                                        ReceiveCallback on_receive) override;
  core::Runtime& runtime() override { return runtime_; }
  uint32_t message_mtu_bytes() const override;
  bool phantom_payloads() const override { return config_.phantom_payloads; }

  // Work a resource did that the solver did not see (packet fidelity accounts here).
  double ExtraUsedWork(models::ResourceId id) const;
  const ModelFabricStats& stats() const;

  struct Impl;  // internal

 private:
  core::VirtualRuntime& runtime_;
  ModelFabricConfig config_;
  std::shared_ptr<Impl> impl_;
};

}  // namespace s3rdma::sim

#endif  // S3RDMA_SIM_MODEL_FABRIC_H_
