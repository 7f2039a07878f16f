// UdpFabric: real RoCEv2 datagrams (BTH..ICRC as the UDP payload) over UDP sockets.
//
// Each attached port is one non-blocking UDP socket bound to address.ipv4:address.udp_port
// (port 0 picks a free one; see the port's address()). Two processes, two network
// namespaces or two hosts exchange RoCEv2 this way with no kernel RDMA support and no root:
// Linux's own rxe, listening on 4791, speaks the same bytes.
//
// Sending: Send encodes the headers and ICRC and queues the datagram (headers, payload and
// trailer as a 3-part iovec, so the payload is not copied in user space); queued datagrams
// leave in sendmmsg() batches from a task posted on the runtime, or at once when a batch is
// full, coalesced with UDP GSO where possible (config.gso). If the socket buffer is full the
// port waits for it to drain; beyond max_queued_datagrams further packets are dropped
// (counted, as a full NIC queue would).
// Receiving: recvmmsg() batches into pooled Payload blocks; packets are decoded without a
// copy (the payload shares the receive block), checked (ICRC unless disabled) and handed to
// the callback from the socket's completion handler on the runtime thread.
//
// ICRC addressing: the ICRC covers the IPv4 and UDP headers. User space cannot see them, so
// both ends assume what Linux puts there for an unconnected UDP socket: IPv4 ID 0 with DF,
// the bound address and port as source, the destination's address and port. (TOS/TTL and
// checksums are masked out of the ICRC anyway.)
//
// Threading: everything on the thread running runtime.io() (RealRuntime::Run/RunFor).
#ifndef S3RDMA_EMU_UDP_FABRIC_H_
#define S3RDMA_EMU_UDP_FABRIC_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/real_runtime.h"
#include "emu/fabric.h"

namespace s3rdma::emu {

struct UdpFabricConfig {
  // Requested SO_SNDBUF / SO_RCVBUF in bytes (as root the limits are bypassed with
  // SO_*BUFFORCE; otherwise the kernel caps them at net.core.[wr]mem_max).
  int socket_buffer_bytes = 16 << 20;
  size_t max_queued_datagrams = 16384;
  size_t batch = 32;            // datagrams per sendmmsg/recvmmsg call (1..64)
  size_t max_rx_per_wakeup = 512;  // datagrams handled before yielding to other tasks
  bool verify_icrc = true;      // drop received packets whose ICRC fails
  // Linux UDP segmentation offload: runs of equal-size datagrams to one peer leave as one
  // UDP_SEGMENT send, and the socket accepts coalesced receives (UDP_GRO). The datagrams on
  // the wire are the same; only the per-datagram system-call cost goes away.
  bool gso = true;

  core::Status Validate() const;
};

struct UdpFabricStats {
  uint64_t send_syscalls = 0;
  uint64_t recv_syscalls = 0;
  uint64_t send_would_block = 0;  // times the socket buffer was full
  uint64_t gso_sends = 0;         // messages sent as several datagrams with UDP_SEGMENT
  uint64_t gro_receives = 0;      // receives that returned several coalesced datagrams
};

class UdpFabric final : public Fabric {
 public:
  // REQUIRES: config valid (checked); `runtime` outlives the fabric and its ports.
  explicit UdpFabric(core::RealRuntime& runtime, UdpFabricConfig config = {});
  ~UdpFabric() override;
  UdpFabric(const UdpFabric&) = delete;
  UdpFabric& operator=(const UdpFabric&) = delete;

  // Binds a socket. address.ipv4 must be a specific local address (not 0.0.0.0), e.g.
  // 127.0.0.1; InvalidArgument / IOError (with the errno text) otherwise.
  core::Result<std::unique_ptr<FabricPort>> Attach(const NodeAddress& address,
                                                   ReceiveCallback on_receive) override;
  core::Runtime& runtime() override { return runtime_; }
  const UdpFabricConfig& config() const { return config_; }
  const UdpFabricStats& stats() const { return *stats_; }

 private:
  core::RealRuntime& runtime_;
  UdpFabricConfig config_;
  std::shared_ptr<UdpFabricStats> stats_;
};

}  // namespace s3rdma::emu

#endif  // S3RDMA_EMU_UDP_FABRIC_H_
