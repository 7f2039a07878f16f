// Hardware and cost specifications: plain structs with documented defaults.
//
// A bandwidth of 0 for memory or PCIe means "not modelled" (unlimited): no resource is
// created, which is what pure network studies (the SimGrid comparison) want.
// Every default here is listed with its source in docs/models.md. Specs are filled by the
// scenario loader (sim/), validated with Validate*(), then handed to ClusterModel, which
// turns them into FlowSolver resources. Models never see YAML.
#ifndef S3RDMA_MODELS_HARDWARE_H_
#define S3RDMA_MODELS_HARDWARE_H_

#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/time.h"
#include "core/units.h"

namespace s3rdma::models {

struct CpuSpec {
  int64_t cores = 64;  // usable cores (hardware threads doing work)
};

struct MemorySpec {
  // Sustained memory bandwidth (reads + writes) available to I/O and copies.
  core::DataRate bandwidth = core::DataRate::BytesPerSecond(307'200'000'000);  // DDR5-4800 x 8 ch
};

struct NicSpec {
  int64_t count = 1;                                   // ports, all used (bonded / multipath)
  core::DataRate rate = core::DataRate::Gbps(400);      // per port, each direction
  // Effective PCIe Gen5 x16: 63 GB/s raw x 0.90 (the efficiency measured over Gen4 x16).
  core::DataRate pcie = core::DataRate::BytesPerSecond(56'700'000'000);  // per port's slot
};

struct DriveSpec {
  int64_t count = 0;  // NVMe drives; 0 = no drives (memory-backed, e.g. the SimGrid benchmark)
  core::DataRate read = core::DataRate::BytesPerSecond(7'000'000'000);
  core::DataRate write = core::DataRate::BytesPerSecond(5'000'000'000);
  int64_t read_iops = 1'000'000;
  int64_t write_iops = 200'000;
  core::Bytes io_size = core::Bytes::KiB(128);  // size of one drive I/O of a large transfer
  core::Duration read_latency = core::Duration::Microseconds(80);
  core::Duration write_latency = core::Duration::Microseconds(20);
};

struct GpuSpec {
  int64_t count = 0;
  // Effective PCIe Gen4 x16 (26.4 GiB/s measured GPUDirect into an L40S), per direction.
  core::DataRate pcie = core::DataRate::BytesPerSecond(28'350'000'000);
  core::Bytes memory = core::Bytes::GiB(48);
  // Vector-index build rate of one GPU, vectors per second (at the dimension in use).
  double index_build_rate = 0;
};

struct NodeSpec {
  CpuSpec cpu;
  MemorySpec memory;
  NicSpec nic;
  DriveSpec drives;
  GpuSpec gpus;
  // CPU index build rate per core, vectors per second.
  double cpu_index_build_rate_per_core = 0;
};

enum class Transport { kRdma, kTcp };
const char* TransportName(Transport t);

// Per-byte CPU cost expressed as core-time per GB (10^9 bytes), as it is measured.
// Storage nodes are servers, everything else clients; every default is measured on this
// machine by scenarios/calibration/s3_server_cpu_cost.sh (docs/models.md sections 4-5).
struct TcpCosts {
  // An S3 server sending a GET body: s3rdma serve, filesystem store (sendfile), 1-64 MiB.
  core::Duration server_send_cpu_per_gb = core::Duration::Milliseconds(84);
  // An S3 server receiving a PUT body: s3rdma serve, filesystem store (receive, MD5 ETag,
  // write, fsync, rename), 8 MiB PUTs: 2.20 s/GB (64 MiB: 2.16; nginx PUT + MD5: 2.88).
  core::Duration server_recv_cpu_per_gb = core::Duration::Milliseconds(2200);
  // The client receiving a GET body / sending a PUT body: wrk, same runs (C, 8 KiB reads).
  core::Duration client_recv_cpu_per_gb = core::Duration::Milliseconds(650);
  core::Duration client_send_cpu_per_gb = core::Duration::Milliseconds(470);
  // GPU buffers over TCP: CPU copies between the socket's user buffer and the pinned staging
  // buffer the GPU's copy engine reads (cudaMemcpy from pageable memory stages through one),
  // at one memcpy pass each (measured: scenarios/calibration/memcpy_cost.cc).
  int64_t gpu_bounce_copies = 1;
  core::Duration copy_cpu_per_gb = core::Duration::Milliseconds(98);
  // Extra per-request CPU beyond HTTP handling (which was measured over TCP already).
  core::Duration cpu_per_request = core::Duration::Zero();  // each end
  int64_t send_copies = 1;  // user -> socket buffer copies on the sender (0 = sendfile)
  int64_t recv_copies = 1;  // socket buffer -> user copies on the receiver
  double wire_efficiency = 0.990;  // payload / wire bytes: 8948 / 9038, MTU 9000 TCP/IPv4
};

struct RdmaCosts {
  // Each end: token, work requests, completions (measured: RdmaServer on the UDP software
  // NIC minus the same GET over TCP; includes the software NIC's per-message work).
  core::Duration cpu_per_request = core::Duration::Microseconds(10);
  double wire_efficiency = 0.980;  // payload / wire bytes: 4096 / 4178, RoCEv2 MTU 4096
};

struct HttpCosts {
  // S3 request handling on the server (parse, SigV4, metadata, reply, the request's TCP
  // syscalls), both transports: s3rdma serve, SigV4-signed 0-byte GETs (measured).
  core::Duration server_cpu_per_request = core::Duration::Microseconds(41);
  // The client's side of one request (wrk, 0-byte GETs; unsigned, so a lower bound).
  core::Duration client_cpu_per_request = core::Duration::Microseconds(16);
  core::Bytes request_bytes = core::Bytes(1024);
};

struct CostSpec {
  TcpCosts tcp;
  RdmaCosts rdma;
  HttpCosts http;
};

enum class Topology { kStar, kLeafSpine };

struct FabricSpec {
  Topology topology = Topology::kStar;
  core::Duration link_latency = core::Duration::Microseconds(2);  // per link, one way
  int64_t nodes_per_leaf = 32;
  double oversubscription = 1.0;  // leaf downlink capacity / uplink capacity, >= 1
};

// Each returns InvalidArgument naming the field ("nic.rate must be > 0").
core::Status Validate(const NodeSpec& n);
core::Status Validate(const CostSpec& c);
core::Status Validate(const FabricSpec& f);

}  // namespace s3rdma::models

#endif  // S3RDMA_MODELS_HARDWARE_H_
