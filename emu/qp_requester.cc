// The requester: turns send WQEs into packets (segmented by path MTU), assigns PSNs, keeps
// the window of unacknowledged PSNs and the READ/atomic credits, asks for ACKs.
#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "emu/rc_qp.h"

namespace s3rdma::emu {

void RcQp::ScheduleRequester() {
  if (requester_scheduled_) return;
  requester_scheduled_ = true;
  // Deferred so that a burst of PostSend calls (or of ACKs) is handled in one pass, and so
  // that posting never re-enters the engine from inside a completion handler.
  device_->runtime().Post([this, alive = std::weak_ptr<char>(alive_)] {
    if (alive.expired()) return;
    requester_scheduled_ = false;
    RunRequester();
  });
}

void RcQp::RunRequester() {
  if (state_ != QpState::kRts || rnr_wait_) return;
  const int32_t window = static_cast<int32_t>(device_->options().max_unacked_psns);
  // READ/atomic credits; 0 would forbid them entirely and stall the queue forever, so it
  // is treated as 1 (ibverbs leaves the behaviour unspecified).
  const uint32_t credits = std::max<uint32_t>(attr_.max_rd_atomic, 1);
  while (req_idx_ != sq_tail_ && state_ == QpState::kRts) {
    SendWqe& w = sq(req_idx_);
    if (w.state == WqeState::kFailed) break;
    if (PsnDiff(req_psn_, comp_psn_) >= window) break;
    if (w.state == WqeState::kPending) {
      if ((w.send_flags & kSendFence) && rd_outstanding_ > 0) break;
      if (w.is_read_or_atomic() && rd_outstanding_ >= credits) break;
      if (!StartWqe(w)) break;
    }
    SendNextPacket(w);
  }
}

bool RcQp::StartWqe(SendWqe& w) {
  uint32_t need = 0;
  if (w.opcode == WrOpcode::kRdmaRead || w.opcode == WrOpcode::kAtomicCmpAndSwp ||
      w.opcode == WrOpcode::kAtomicFetchAndAdd) {
    need = kAccessLocalWrite;  // the response is written into these SGEs
  }
  WcStatus err = WcStatus::kSuccess;
  if (!w.is_inline && !SgesValid(SendSges(w), w.num_sge, need)) err = WcStatus::kLocProtErr;
  if (err == WcStatus::kSuccess &&
      (w.opcode == WrOpcode::kAtomicCmpAndSwp || w.opcode == WrOpcode::kAtomicFetchAndAdd) &&
      w.length < 8) {
    err = WcStatus::kLocLenErr;  // nowhere to put the 8-byte original value
  }
  if (err != WcStatus::kSuccess) {
    // Completes in order: earlier WQEs still in flight complete first (completer).
    w.state = WqeState::kFailed;
    w.error = err;
    if (req_idx_ == sq_head_) CompleteFailedHead();
    return false;
  }
  if (kEmuPlantedBugsBuilt && planted_reuse_pending_ && device_->options().plant_reuse_psn &&
      PsnDiff(req_psn_, comp_psn_) > 0) {
    req_psn_ = PsnAdd(req_psn_, 0xFFFFFF);  // the planted bug: one PSN back, reused
    planted_reuse_pending_ = false;
  }
  w.first_psn = req_psn_;
  switch (w.opcode) {
    case WrOpcode::kAtomicCmpAndSwp:
    case WrOpcode::kAtomicFetchAndAdd:
      w.npkts = 1;
      break;
    default:
      w.npkts = std::max<uint32_t>(1, (w.length + mtu() - 1) / mtu());
  }
  w.read_bytes = 0;
  w.state = WqeState::kSending;
  req_offset_ = 0;
  if (w.is_read_or_atomic()) ++rd_outstanding_;
  return true;
}

namespace {

Opcode SendOpcode(bool first, bool last, bool imm) {
  if (first && last) return imm ? Opcode::kSendOnlyWithImmediate : Opcode::kSendOnly;
  if (first) return Opcode::kSendFirst;
  if (last) return imm ? Opcode::kSendLastWithImmediate : Opcode::kSendLast;
  return Opcode::kSendMiddle;
}

Opcode WriteOpcode(bool first, bool last, bool imm) {
  if (first && last) return imm ? Opcode::kRdmaWriteOnlyWithImmediate : Opcode::kRdmaWriteOnly;
  if (first) return Opcode::kRdmaWriteFirst;
  if (last) return imm ? Opcode::kRdmaWriteLastWithImmediate : Opcode::kRdmaWriteLast;
  return Opcode::kRdmaWriteMiddle;
}

}  // namespace

void RcQp::SendNextPacket(SendWqe& w) {
  const uint32_t psn = req_psn_;
  if (PsnDiff(psn, high_psn_) < 0) {
    ++stats_.retransmitted_packets;
    planted_reuse_pending_ = true;
  }
  if (PsnDiff(req_psn_, comp_psn_) == 0) {
    // Nothing was outstanding: the ACK timeout starts now.
    retransmit_deadline_ = AckDeadline();
  }
  RocePacket pkt;
  switch (w.opcode) {
    case WrOpcode::kRdmaRead: {
      // A READ request consumes one PSN per response packet. After a partial response it
      // asks again for the rest only (IBTA 9.7.5.1.3), at the next expected PSN.
      pkt = NewPacket(Opcode::kRdmaReadRequest, psn);
      pkt.reth.virtual_address = w.remote_addr + w.read_bytes;
      pkt.reth.rkey = w.rkey;
      pkt.reth.dma_length = w.length - w.read_bytes;
      uint32_t remaining = w.npkts - static_cast<uint32_t>(PsnDiff(psn, w.first_psn));
      req_psn_ = PsnAdd(req_psn_, remaining);
      w.state = WqeState::kSent;
      ++req_idx_;
      noack_pkts_ = 0;
      break;
    }
    case WrOpcode::kAtomicCmpAndSwp:
    case WrOpcode::kAtomicFetchAndAdd: {
      bool cas = w.opcode == WrOpcode::kAtomicCmpAndSwp;
      pkt = NewPacket(cas ? Opcode::kCompareSwap : Opcode::kFetchAdd, psn);
      pkt.atomic_eth.virtual_address = w.remote_addr;
      pkt.atomic_eth.rkey = w.rkey;
      pkt.atomic_eth.swap_or_add = cas ? w.swap : w.compare_add;
      pkt.atomic_eth.compare = cas ? w.compare_add : 0;
      req_psn_ = PsnAdd(req_psn_, 1);
      w.state = WqeState::kSent;
      ++req_idx_;
      noack_pkts_ = 0;
      break;
    }
    default: {
      const bool write =
          w.opcode == WrOpcode::kRdmaWrite || w.opcode == WrOpcode::kRdmaWriteWithImm;
      const bool imm =
          w.opcode == WrOpcode::kRdmaWriteWithImm || w.opcode == WrOpcode::kSendWithImm;
      const uint32_t remaining = w.length - req_offset_;
      const uint32_t len = std::min(remaining, mtu());
      const bool first = req_offset_ == 0;
      const bool last = remaining <= mtu();
      pkt = NewPacket(write ? WriteOpcode(first, last, imm) : SendOpcode(first, last, imm), psn);
      if (write && first) {
        pkt.reth.virtual_address = w.remote_addr;
        pkt.reth.rkey = w.rkey;
        pkt.reth.dma_length = w.length;
      }
      if (last && imm) pkt.immediate = w.imm_data;
      if (last && (w.send_flags & kSendSolicited)) pkt.bth.solicited_event = true;
      if (len > 0 && phantom()) {
        pkt.payload = Payload::Phantom(len);  // sizes only: memory is never read
      } else if (len > 0) {
        // The one copy on the send side: user memory -> packet payload.
        pkt.payload = Payload::Allocate(len);
        uint8_t* dst = pkt.payload.mutable_data();
        if (w.is_inline) {
          std::memcpy(dst, w.inline_data.data() + req_offset_, len);
        } else {
          GatherFromSges(SendSges(w), w.num_sge, req_offset_, dst, len);
        }
      }
      if (last || ++noack_pkts_ >= device_->options().packets_per_ack_req) {
        pkt.bth.ack_request = true;
        noack_pkts_ = 0;
      }
      req_offset_ += len;
      req_psn_ = PsnAdd(req_psn_, 1);
      if (last) {
        w.state = WqeState::kSent;
        ++req_idx_;
        req_offset_ = 0;
      }
    }
  }
  if (PsnDiff(req_psn_, high_psn_) > 0) high_psn_ = req_psn_;
  SendPacket(std::move(pkt));
  ArmRetransmitTimer();
}

core::Time RcQp::AckDeadline() const {
  if (attr_.timeout == 0) return core::Time::Max();
  return device_->runtime().Now() + AckTimeout(attr_.timeout);
}

void RcQp::ArmRetransmitTimer() {
  // One timer at a time; it re-arms itself lazily at the newest deadline (OnRetransmitTimer)
  // instead of being cancelled and re-created for every packet or ACK.
  if (attr_.timeout == 0 || retransmit_armed_) return;
  retransmit_armed_ = true;
  retransmit_timer_ = device_->runtime().At(
      retransmit_deadline_, [this, alive = std::weak_ptr<char>(alive_)] {
        if (alive.expired()) return;
        retransmit_armed_ = false;
        OnRetransmitTimer();
      });
}

}  // namespace s3rdma::emu
