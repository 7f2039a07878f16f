// Device: binds to a fabric node, owns the MR and QP tables, dispatches packets to QPs.
#include <cstring>

#include <spdlog/spdlog.h>

#include "core/check.h"
#include "emu/rc_qp.h"
#include "emu/verbs.h"

namespace s3rdma::emu {
namespace {
// QPNs 0 and 1 are the special QPs of InfiniBand; start well above them, like rxe (17).
constexpr uint32_t kFirstQpn = 17;
}  // namespace

const char* WcStatusName(WcStatus s) {
  static const char* const kNames[] = {
      "SUCCESS",        "LOC_LEN_ERR",      "LOC_QP_OP_ERR",    "LOC_EEC_OP_ERR",
      "LOC_PROT_ERR",   "WR_FLUSH_ERR",     "MW_BIND_ERR",      "BAD_RESP_ERR",
      "LOC_ACCESS_ERR", "REM_INV_REQ_ERR",  "REM_ACCESS_ERR",   "REM_OP_ERR",
      "RETRY_EXC_ERR",  "RNR_RETRY_EXC_ERR", "LOC_RDD_VIOL_ERR", "REM_INV_RD_REQ_ERR",
      "REM_ABORT_ERR",  "INV_EECN_ERR",     "INV_EEC_STATE_ERR", "FATAL_ERR",
      "RESP_TIMEOUT_ERR", "GENERAL_ERR"};
  auto i = static_cast<size_t>(s);
  return i < std::size(kNames) ? kNames[i] : "UNKNOWN";
}

const char* WcOpcodeName(WcOpcode op) {
  switch (op) {
    case WcOpcode::kSend: return "SEND";
    case WcOpcode::kRdmaWrite: return "RDMA_WRITE";
    case WcOpcode::kRdmaRead: return "RDMA_READ";
    case WcOpcode::kCompSwap: return "COMP_SWAP";
    case WcOpcode::kFetchAdd: return "FETCH_ADD";
    case WcOpcode::kRecv: return "RECV";
    case WcOpcode::kRecvRdmaWithImm: return "RECV_RDMA_WITH_IMM";
  }
  return "UNKNOWN";
}

const char* QpStateName(QpState s) {
  static const char* const kNames[] = {"RESET", "INIT", "RTR", "RTS", "SQD", "SQE", "ERR"};
  auto i = static_cast<size_t>(s);
  return i < std::size(kNames) ? kNames[i] : "UNKNOWN";
}

uint32_t MtuBytes(Mtu mtu) {
  auto v = static_cast<uint32_t>(mtu);
  return v >= 1 && v <= 5 ? 128u << v : 0;
}

core::Duration AckTimeout(uint8_t timeout) {
  if (timeout == 0) return core::Duration::Max();
  // 4.096 us * 2^timeout; timeout is at most 31, so this fits in int64 picoseconds.
  return core::Duration::Nanoseconds(4096) * (int64_t{1} << (timeout & 31));
}

core::Duration RnrTimerDelay(uint8_t code) {
  return core::Duration::Nanoseconds(RnrTimerNanoseconds(code & 31));
}

core::Result<std::unique_ptr<Device>> Device::Open(Fabric& fabric, const NodeAddress& address,
                                                   DeviceOptions options) {
  if (options.max_unacked_psns == 0 || options.max_unacked_psns > (1u << 22) ||
      options.packets_per_ack_req == 0) {
    return core::Status::InvalidArgument("bad device options");
  }
  std::unique_ptr<Device> dev(new Device(fabric.runtime(), options));
  Device* raw = dev.get();
  dev->message_mtu_bytes_ = fabric.message_mtu_bytes();
  dev->phantom_payloads_ = fabric.phantom_payloads();
  auto port = fabric.Attach(address, [raw](RocePacket p) { raw->OnPacket(std::move(p)); });
  if (!port.ok()) return port.status();
  dev->port_ = std::move(port).value();
  return dev;
}

Device::Device(core::Runtime& runtime, DeviceOptions options)
    : runtime_(runtime), options_(options) {}

Device::~Device() {
  S3_CHECK_MSG(live_objects_ == 0, "Device destroyed while PDs/CQs still use it");
}

core::Result<std::unique_ptr<ProtectionDomain>> Device::AllocPd() {
  ++live_objects_;
  return std::unique_ptr<ProtectionDomain>(new ProtectionDomain(this));
}

core::Result<std::unique_ptr<CompletionQueue>> Device::CreateCq(int cqe) {
  if (cqe < 1 || cqe > static_cast<int>(kMaxCqe)) {
    return core::Status::InvalidArgument("CQ size must be 1.." + std::to_string(kMaxCqe));
  }
  return std::unique_ptr<CompletionQueue>(new CompletionQueue(this, cqe));
}

uint32_t Device::AddQp(RcQp* qp) {
  uint32_t slot;
  if (!free_qp_slots_.empty()) {
    slot = free_qp_slots_.back();
    free_qp_slots_.pop_back();
    qps_[slot] = qp;
  } else {
    slot = static_cast<uint32_t>(qps_.size());
    S3_CHECK_MSG(slot + kFirstQpn <= kQpnMask, "too many QPs");
    qps_.push_back(qp);
    // Every slot may come back through RemoveQp: room for it now, so destroying QPs never
    // allocates (a simulation's teardown frees tens of thousands of QPs, and an allocation
    // in between made malloc consolidate its free lists again and again).
    if (free_qp_slots_.capacity() < qps_.capacity()) free_qp_slots_.reserve(qps_.capacity());
  }
  return slot + kFirstQpn;
}

void Device::RemoveQp(uint32_t qpn) {
  uint32_t slot = qpn - kFirstQpn;
  S3_CHECK(slot < qps_.size() && qps_[slot] != nullptr);
  qps_[slot] = nullptr;
  free_qp_slots_.push_back(slot);
}

void Device::OnPacket(RocePacket&& packet) {
  uint32_t qpn = packet.bth.dest_qp;
  uint32_t slot = qpn - kFirstQpn;  // wraps for qpn < kFirstQpn
  if (qpn < kFirstQpn || slot >= qps_.size() || qps_[slot] == nullptr) {
    ++unknown_qp_packets_;
    return;
  }
  qps_[slot]->OnPacket(std::move(packet));
}

void Device::SendPacket(const NodeAddress& to, RocePacket&& packet) {
  core::Status st = port_->Send(to, std::move(packet));
  if (!st.ok()) {
    // The engine only builds valid packets; a failure here is a bug worth seeing.
    spdlog::error("emu: cannot send packet: {}", st.ToString());
  }
}

}  // namespace s3rdma::emu
