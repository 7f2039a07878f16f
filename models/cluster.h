// ClusterModel: storage nodes, GPU/client servers and the fabric between them as
// FlowSolver resources, with the primitive operations workloads are built from.
//
// Resources per node (all in the same solver, so the bottleneck can be any of them):
//   cpu        cores, in core-seconds per second
//   memory     host memory bus, bytes/s (every DMA or copy pass of a byte counts once)
//   nic_tx/rx  NIC ports, wire bytes/s per direction (in a star fabric they are the links)
//   pcie_nic_out/in  the NICs' PCIe slots, bytes/s per direction
//   drives     drive time: count drive-seconds per second (reads and writes share it;
//              a byte costs max(1/bandwidth, 1/(iops * io_size)) drive-seconds)
//   gpuN       one GPU's compute time (GPU-seconds per second); gpuN_pcie_in/out
// Leaf-spine fabrics add per-leaf uplink and downlink resources.
//
// Primitives: Delay, CpuWork (a burst on one core), Transfer (bytes between two endpoints
// over the configured transport, after the route latency), Compute (a vector-index build
// on a GPU or on all cores). Each calls `done` in virtual time. These are the seam where
// a later protocol mode (real server/client code) plugs in: it spends the same resources.
//
// Lifetime: the runtime and solver outlive the model. Single-threaded.
#ifndef S3RDMA_MODELS_CLUSTER_H_
#define S3RDMA_MODELS_CLUSTER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/time.h"
#include "core/units.h"
#include "core/virtual_runtime.h"
#include "models/flow_solver.h"
#include "models/hardware.h"

namespace s3rdma::models {

inline constexpr ResourceId kNoResource = UINT32_MAX;

enum class Buffer {
  kHost,   // host memory
  kGpu,    // GPU memory (GPUDirect RDMA over TCP needs a host bounce)
  kDrive,  // the node's drives (reads into / writes from host memory on the way)
};

// Storage nodes run the S3 server; clients (GPU servers, index nodes) run S3 clients. The
// role picks which measured TCP costs a node pays (costs.tcp.server_* or client_*).
enum class NodeRole { kStorage, kClient };

struct Endpoint {
  int node = 0;
  Buffer buffer = Buffer::kHost;
  int gpu = 0;  // when buffer == kGpu
};

struct NodeResources {
  ResourceId cpu = kNoResource;
  ResourceId memory = kNoResource;
  ResourceId nic_tx = kNoResource;
  ResourceId nic_rx = kNoResource;
  ResourceId pcie_nic_out = kNoResource;
  ResourceId pcie_nic_in = kNoResource;
  ResourceId drives = kNoResource;
  std::vector<ResourceId> gpu;
  std::vector<ResourceId> gpu_pcie_in;
  std::vector<ResourceId> gpu_pcie_out;
  int leaf = 0;
};

class ClusterModel {
 public:
  ClusterModel(core::VirtualRuntime& runtime, FlowSolver& solver, FabricSpec fabric,
               CostSpec costs, Transport transport);

  // REQUIRES: Validate(spec).ok(), not sealed.
  int AddNode(std::string name, const NodeSpec& spec, NodeRole role);
  // Builds the fabric; no nodes may be added afterwards.
  void Seal();

  int node_count() const { return static_cast<int>(nodes_.size()); }
  const std::string& node_name(int n) const { return names_[n]; }
  const NodeSpec& node_spec(int n) const { return specs_[n]; }
  NodeRole node_role(int n) const { return roles_[n]; }
  const NodeResources& resources(int n) const { return nodes_[n]; }
  Transport transport() const { return transport_; }
  const CostSpec& costs() const { return costs_; }

  void Delay(core::Duration d, std::function<void()> done);
  // `core_time` of work on one core of `node`, sharing the cores with everything else.
  void CpuWork(int node, core::Duration core_time, std::function<void()> done);
  // Moves `bytes` from src to dst over the transport: waits the route latency, then one
  // pipelined flow through every resource on the path. REQUIRES: bytes > 0.
  void Transfer(const Endpoint& src, const Endpoint& dst, core::Bytes bytes,
                std::function<void()> done);
  // Builds an index over `vectors` on GPU `gpu` of `node`, or on the node's cores if
  // gpu < 0, at the spec's build rate. REQUIRES: that rate > 0.
  void Compute(int node, int gpu, double vectors, std::function<void()> done);
  // Reads (or writes) `bytes` between the node's drives and its host memory (a local
  // erasure-coded fragment). REQUIRES: the node has drives.
  void DriveIo(int node, bool read, core::Bytes bytes, std::function<void()> done);
  // `gpu_time` of work on GPU `gpu` of `node` (shared with other work on that GPU).
  void GpuWork(int node, int gpu, core::Duration gpu_time, std::function<void()> done);

  // One-way latency of the route between two nodes.
  core::Duration RouteLatency(int src, int dst) const;
  // The resources (with weights per payload byte) a transfer uses, and its rate bound.
  // Exposed for tests and for reports that explain a bottleneck.
  std::vector<ResourceUse> TransferUses(const Endpoint& src, const Endpoint& dst,
                                        core::Bytes bytes, double* bound) const;
  // The transport's per-request CPU time on each end (HTTP handling included).
  core::Duration ServerRequestCpu() const;
  core::Duration ClientRequestCpu() const;

 private:
  void AddRouteLinks(int src, int dst, double weight, std::vector<ResourceUse>& uses) const;

  core::VirtualRuntime& runtime_;
  FlowSolver& solver_;
  FabricSpec fabric_;
  CostSpec costs_;
  Transport transport_;
  bool sealed_ = false;
  std::vector<std::string> names_;
  std::vector<NodeSpec> specs_;
  std::vector<NodeRole> roles_;
  std::vector<NodeResources> nodes_;
  std::vector<ResourceId> leaf_up_;
  std::vector<ResourceId> leaf_down_;
};

}  // namespace s3rdma::models

#endif  // S3RDMA_MODELS_CLUSTER_H_
