// Fabric: what carries RoCEv2 packets between software NICs.
//
// An RC engine attaches one FabricPort per device (one node address) and from then on
// sends RocePackets to other node addresses and receives packets through a callback.
// Implementations: InProcFabric (in-process, deterministic under VirtualRuntime, fault
// injection), UdpFabric (real RoCEv2 datagrams over UDP sockets), PcapCapture (a decorator
// recording any fabric's traffic to a pcap file).
//
// Contract shared by every implementation:
// - Best effort, like an Ethernet network: packets may be lost, duplicated, reordered or
//   corrupted (corrupted packets fail the ICRC at the receiving port and are dropped there,
//   as a NIC does; the callback never sees a packet with a bad ICRC). Reliability is the RC
//   engine's job.
// - Send never calls the receive callback re-entrantly (not even for a packet sent to the
//   sender's own address): delivery always happens later, from a task on the fabric's
//   core::Runtime.
// - Threading: a fabric, its ports and their callbacks belong to the thread running the
//   fabric's Runtime (for UdpFabric, the thread running RealRuntime::Run). No method is
//   thread-safe.
// - Ownership: the caller owns the FabricPort returned by Attach; destroying it detaches the
//   address (packets in flight to it are dropped). The fabric must outlive its ports. The
//   callback is owned by the port and is never called after the port is destroyed.
// - Send takes the packet by value: the fabric sets packet.address.src_ip/dst_ip/dst_port
//   from the port and `to` (the caller sets address.src_port, normally RoceSourcePort(its
//   QPN)). The payload is shared, not copied, by in-process fabrics: the sender must not
//   modify bytes it handed over (Payload bytes are immutable once shared anyway).
#ifndef S3RDMA_EMU_FABRIC_H_
#define S3RDMA_EMU_FABRIC_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/runtime.h"
#include "core/status.h"
#include "emu/roce_wire.h"

namespace s3rdma::emu {

// A node on a fabric: an IPv4 address and the UDP port its RoCEv2 traffic uses. On a real
// network the port is always 4791 and the IPv4 address alone names the node (its GID is
// GidFromIpv4(ipv4)). The UDP fabric may bind other ports (tests use ephemeral ones, several
// processes on one host may use 127.0.0.x), so connection set-up must exchange the whole
// NodeAddress, not only the GID. In-process fabrics ignore the port in lookups but keep it.
struct NodeAddress {
  uint32_t ipv4 = 0;               // host byte order
  uint16_t udp_port = kRoceUdpPort;

  Gid gid() const { return GidFromIpv4(ipv4); }
  std::string ToString() const;  // "10.0.0.1:4791"
  friend bool operator==(const NodeAddress&, const NodeAddress&) = default;
};
// Parses "a.b.c.d" or "a.b.c.d:port" (port defaults to 4791).
core::Result<NodeAddress> ParseNodeAddress(std::string_view text);

// Per-port counters. Loss that the port itself causes (socket buffer full, unknown
// destination, failed decode) is counted here; injected faults are counted by the fabric.
struct PortStats {
  uint64_t tx_packets = 0;
  uint64_t tx_bytes = 0;            // UDP payload bytes (BTH..ICRC)
  uint64_t rx_packets = 0;          // delivered to the callback
  uint64_t rx_bytes = 0;
  uint64_t tx_dropped = 0;          // not sent: no route, queue full, socket error
  uint64_t rx_dropped_icrc = 0;     // received but failed the ICRC
  uint64_t rx_dropped_malformed = 0;// received but not a valid RoCEv2 packet
};

class FabricPort {
 public:
  virtual ~FabricPort() = default;

  // The address packets from this port come from (for UdpFabric, with the bound port).
  virtual NodeAddress address() const = 0;
  // Sends `packet` to `to`. Returns an error only for a packet that cannot be sent at all
  // (fails ValidateForEncode); losses on the way are silent, as on a network.
  virtual core::Status Send(const NodeAddress& to, RocePacket packet) = 0;
  virtual const PortStats& stats() const = 0;
  // The IPv4/UDP addressing `packet` will carry on the wire when sent to `to`. Default: from
  // this port's IPv4 and the packet's src_port to to.ipv4:to.udp_port. UdpFabric ports send
  // from their bound socket, so their source port is the bound port.
  virtual PacketAddress WireAddress(const NodeAddress& to, const RocePacket& packet) const;
};

class Fabric {
 public:
  // Called on the runtime's thread, once per delivered packet. The packet's address field
  // tells where it came from (src_ip, src_port as sent).
  using ReceiveCallback = std::function<void(RocePacket packet)>;

  virtual ~Fabric() = default;

  // Attaches a node. InProcFabric: AlreadyExists if `address.ipv4` is taken. UdpFabric:
  // binds a socket to address.ipv4:address.udp_port (port 0 = ephemeral; see the port's
  // address()); IOError if the bind fails. REQUIRES: on_receive is callable.
  virtual core::Result<std::unique_ptr<FabricPort>> Attach(const NodeAddress& address,
                                                           ReceiveCallback on_receive) = 0;
  // The runtime on which callbacks and deliveries run.
  virtual core::Runtime& runtime() = 0;

  // Simulation-only capabilities a fabric may advertise; every real fabric (UdpFabric,
  // InProcFabric) keeps the defaults. Devices read them once, at Device::Open.
  // - message_mtu_bytes() > 0: every QP of a device on this fabric segments messages by this
  //   many bytes instead of its path MTU (e.g. 2^31: one packet per message, so a flow-level
  //   fabric sees one packet per RDMA message). The RC engine (PSNs, ACKs, retransmission)
  //   still runs per packet. Such packets may exceed a UDP datagram and are never encoded.
  // - phantom_payloads(): payloads carry sizes only (Payload::Phantom): devices never read
  //   or write the bytes of registered memory, so memory regions may name address ranges
  //   with no memory behind them (phantom MRs); a transfer only counts bytes.
  virtual uint32_t message_mtu_bytes() const { return 0; }
  virtual bool phantom_payloads() const { return false; }
};

}  // namespace s3rdma::emu

#endif  // S3RDMA_EMU_FABRIC_H_
