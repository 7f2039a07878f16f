#include "emu/fabric.h"

#include <charconv>

namespace s3rdma::emu {

PacketAddress FabricPort::WireAddress(const NodeAddress& to, const RocePacket& packet) const {
  return PacketAddress{address().ipv4, to.ipv4, packet.address.src_port, to.udp_port};
}

std::string NodeAddress::ToString() const { return Ipv4ToString(ipv4) + ":" + std::to_string(udp_port); }

core::Result<NodeAddress> ParseNodeAddress(std::string_view text) {
  NodeAddress address;
  std::string_view host = text;
  const size_t colon = text.find(':');
  if (colon != std::string_view::npos) {
    host = text.substr(0, colon);
    std::string_view port = text.substr(colon + 1);
    unsigned v = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || v > 65535) {
      return core::Status::InvalidArgument("bad UDP port in '" + std::string(text) + "'");
    }
    address.udp_port = static_cast<uint16_t>(v);
  }
  auto ip = ParseIpv4(host);
  if (!ip.ok()) return ip.status();
  address.ipv4 = *ip;
  return address;
}

}  // namespace s3rdma::emu
