#include "models/hardware.h"

#include <string>

namespace s3rdma::models {
namespace {

core::Status Positive(bool ok, const char* field) {
  return ok ? core::Status::Ok() : core::Status::InvalidArgument(std::string(field) + " must be > 0");
}

}  // namespace

const char* TransportName(Transport t) { return t == Transport::kRdma ? "rdma" : "tcp"; }

core::Status Validate(const NodeSpec& n) {
  S3_RETURN_IF_ERROR(Positive(n.cpu.cores > 0, "cpu.cores"));
  if (n.memory.bandwidth.bps() < 0) return core::Status::InvalidArgument("memory.bandwidth must be >= 0");
  S3_RETURN_IF_ERROR(Positive(n.nic.count > 0, "nic.count"));
  S3_RETURN_IF_ERROR(Positive(n.nic.rate.bps() > 0, "nic.rate"));
  if (n.nic.pcie.bps() < 0) return core::Status::InvalidArgument("nic.pcie must be >= 0");
  if (n.drives.count < 0) return core::Status::InvalidArgument("drives.count must be >= 0");
  if (n.drives.count > 0) {
    S3_RETURN_IF_ERROR(Positive(n.drives.read.bps() > 0, "drives.read"));
    S3_RETURN_IF_ERROR(Positive(n.drives.write.bps() > 0, "drives.write"));
    S3_RETURN_IF_ERROR(Positive(n.drives.read_iops > 0, "drives.read_iops"));
    S3_RETURN_IF_ERROR(Positive(n.drives.write_iops > 0, "drives.write_iops"));
    S3_RETURN_IF_ERROR(Positive(n.drives.io_size.count() > 0, "drives.io_size"));
  }
  if (n.gpus.count < 0) return core::Status::InvalidArgument("gpus.count must be >= 0");
  if (n.gpus.count > 0) {
    if (n.gpus.pcie.bps() < 0) return core::Status::InvalidArgument("gpus.pcie must be >= 0");
  }
  if (n.gpus.index_build_rate < 0 || n.cpu_index_build_rate_per_core < 0) {
    return core::Status::InvalidArgument("index build rates must be >= 0");
  }
  return core::Status::Ok();
}

core::Status Validate(const CostSpec& c) {
  const core::Duration zero = core::Duration::Zero();
  if (c.tcp.server_send_cpu_per_gb < zero || c.tcp.server_recv_cpu_per_gb < zero ||
      c.tcp.client_send_cpu_per_gb < zero || c.tcp.client_recv_cpu_per_gb < zero ||
      c.tcp.copy_cpu_per_gb < zero || c.tcp.cpu_per_request < core::Duration::Zero() || c.rdma.cpu_per_request < core::Duration::Zero() ||
      c.http.server_cpu_per_request < core::Duration::Zero() ||
      c.http.client_cpu_per_request < core::Duration::Zero()) {
    return core::Status::InvalidArgument("CPU costs must be >= 0");
  }
  if (c.tcp.send_copies < 0 || c.tcp.recv_copies < 0 || c.tcp.gpu_bounce_copies < 0) {
    return core::Status::InvalidArgument("tcp copies must be >= 0");
  }
  if (!(c.tcp.wire_efficiency > 0 && c.tcp.wire_efficiency <= 1) ||
      !(c.rdma.wire_efficiency > 0 && c.rdma.wire_efficiency <= 1)) {
    return core::Status::InvalidArgument("wire_efficiency must be in (0, 1]");
  }
  return core::Status::Ok();
}

core::Status Validate(const FabricSpec& f) {
  if (f.link_latency < core::Duration::Zero()) {
    return core::Status::InvalidArgument("link latency must be >= 0");
  }
  S3_RETURN_IF_ERROR(Positive(f.nodes_per_leaf > 0, "nodes_per_leaf"));
  if (!(f.oversubscription >= 1.0)) {
    return core::Status::InvalidArgument("oversubscription must be >= 1");
  }
  return core::Status::Ok();
}

}  // namespace s3rdma::models
