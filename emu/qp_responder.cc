// The responder: PSN checks, SEND/WRITE placement, READ responses, atomics, ACK coalescing,
// NAKs (sequence, RNR, access, invalid request) and duplicate replay.
#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "emu/rc_qp.h"

namespace s3rdma::emu {

bool RcQp::CheckRemote(uint32_t rkey, uint64_t va, uint64_t len, uint32_t access) const {
  // A zero-length RDMA operation touches no memory and its R_Key is not checked (IBTA
  // 9.7.4.1.5; rxe does the same).
  if (len == 0) return true;
  MemoryRegion* mr = device_->FindMr(rkey);
  return mr != nullptr && &mr->pd() == pd_ && mr->Covers(va, len, access);
}

void RcQp::SendAck(uint32_t psn) {
  RocePacket p = NewPacket(Opcode::kAcknowledge, psn);
  p.aeth = Aeth::Ack(msn_);
  ++stats_.acks_sent;
  SendPacket(std::move(p));
}

void RcQp::ScheduleAck(uint32_t psn) {
  ack_psn_ = psn;
  if (ack_scheduled_) return;  // coalesced: the pending ACK will carry the newer PSN
  ack_scheduled_ = true;
  device_->runtime().Post([this, alive = std::weak_ptr<char>(alive_)] {
    if (!alive.expired()) FlushPendingAck();
  });
}

void RcQp::FlushPendingAck() {
  if (!ack_scheduled_) return;
  ack_scheduled_ = false;
  if (state_ == QpState::kRtr || state_ == QpState::kRts) SendAck(ack_psn_);
}

void RcQp::SendNak(NakCode code, uint32_t psn) {
  FlushPendingAck();
  RocePacket p = NewPacket(Opcode::kAcknowledge, psn);
  p.aeth = Aeth::Nak(msn_, code);
  SendPacket(std::move(p));
}

void RcQp::SendRnrNak(uint32_t psn) {
  FlushPendingAck();
  RocePacket p = NewPacket(Opcode::kAcknowledge, psn);
  p.aeth = Aeth::RnrNak(msn_, attr_.min_rnr_timer);
  ++stats_.rnr_naks_sent;
  SendPacket(std::move(p));
}

void RcQp::ResponderError(NakCode code, uint32_t psn, bool fail_recv, WcStatus recv_status) {
  SendNak(code, psn);
  if (fail_recv && rq_head_ != rq_tail_) {
    CompleteRecv(rq(rq_head_), recv_status, WcOpcode::kRecv, 0, false, 0);
    ++rq_head_;
  }
  // Class C/D errors take the responder QP to ERR too (rxe: qp->resp.goto_error).
  EnterError(WcStatus::kWrFlushErr, false);
}

void RcQp::SendReadResponses(const Reth& reth, uint32_t first_psn) {
  const uint32_t len = reth.dma_length;
  const uint32_t n = std::max<uint32_t>(1, (len + mtu() - 1) / mtu());
  for (uint32_t i = 0; i < n; ++i) {
    Opcode op = n == 1        ? Opcode::kRdmaReadResponseOnly
                : i == 0      ? Opcode::kRdmaReadResponseFirst
                : i == n - 1  ? Opcode::kRdmaReadResponseLast
                              : Opcode::kRdmaReadResponseMiddle;
    RocePacket p = NewPacket(op, PsnAdd(first_psn, i));
    if (p.info().has_aeth) p.aeth = Aeth::Ack(msn_);
    uint32_t off = i * mtu();
    uint32_t plen = std::min(mtu(), len - off);
    if (plen > 0 && phantom()) {
      p.payload = Payload::Phantom(plen);
    } else if (plen > 0) {
      p.payload = Payload::Allocate(plen);
      std::memcpy(p.payload.mutable_data(),
                  reinterpret_cast<const void*>(reth.virtual_address + off), plen);
    }
    SendPacket(std::move(p));
  }
}

void RcQp::SendAtomicAck(uint32_t psn, uint64_t original) {
  RocePacket p = NewPacket(Opcode::kAtomicAcknowledge, psn);
  p.aeth = Aeth::Ack(msn_);
  p.atomic_ack.original_data = original;
  SendPacket(std::move(p));
}

void RcQp::OnRequest(RocePacket&& pkt) {
  if (state_ != QpState::kRtr && state_ != QpState::kRts) {
    ++stats_.dropped_packets;  // INIT/RESET/ERR drop requests silently
    return;
  }
  const uint32_t psn = pkt.bth.psn;
  const int32_t d = PsnDiff(psn, resp_psn_);
  if (d > 0) {
    // A gap: NAK once per gap, drop everything until the expected PSN arrives.
    ++stats_.dropped_packets;
    if (!nak_seq_sent_) {
      nak_seq_sent_ = true;
      ++stats_.seq_naks_sent;
      SendNak(NakCode::kPsnSequenceError, resp_psn_);
    }
    return;
  }
  if (d < 0) {
    OnDuplicateRequest(pkt);
    return;
  }

  const OpcodeInfo& info = pkt.info();
  const Opcode op = pkt.opcode();
  const bool is_send = op <= Opcode::kSendOnlyWithImmediate;
  const bool is_write = op >= Opcode::kRdmaWriteFirst && op <= Opcode::kRdmaWriteOnlyWithImmediate;
  const bool continues = info.is_middle || info.is_last;
  // Opcode sequence (IBTA 9.8.3.1.2): inside a message only its MIDDLE/LAST may come.
  bool seq_ok = in_msg_ == InMsg::kNone ? !continues
                : in_msg_ == InMsg::kSend ? (is_send && continues)
                                          : (is_write && continues);
  if (!seq_ok || (!is_send && !is_write && op != Opcode::kRdmaReadRequest &&
                  op != Opcode::kCompareSwap && op != Opcode::kFetchAdd)) {
    ResponderError(NakCode::kInvalidRequest, psn, false, WcStatus::kWrFlushErr);
    return;
  }
  nak_seq_sent_ = false;
  const uint32_t plen = static_cast<uint32_t>(pkt.payload.size());
  if (plen > mtu() || ((info.is_first || info.is_middle) && plen != mtu())) {
    ResponderError(NakCode::kInvalidRequest, psn, false, WcStatus::kWrFlushErr);
    return;
  }

  if (is_send) {
    if (!continues && rq_head_ == rq_tail_) {
      SendRnrNak(psn);  // receiver not ready: the requester retries after the RNR timer
      return;
    }
    if (rq_head_ == rq_tail_) {  // the WQE vanished mid-message (flushed): cannot happen in RTR/RTS
      ResponderError(NakCode::kRemoteOperationalError, psn, false, WcStatus::kWrFlushErr);
      return;
    }
    RecvWqe& r = rq(rq_head_);
    if (!continues) {
      in_msg_ = info.is_only ? InMsg::kNone : InMsg::kSend;
      resp_offset_ = 0;
      if (!SgesValid(r.sge.data(), r.num_sge, kAccessLocalWrite)) {
        ResponderError(NakCode::kRemoteOperationalError, psn, true, WcStatus::kLocProtErr);
        return;
      }
    }
    uint64_t cap = 0;
    for (uint32_t i = 0; i < r.num_sge; ++i) cap += r.sge[i].length;
    if (resp_offset_ + plen > cap) {
      // The message does not fit the receive buffer: LOC_LEN_ERR here, and the requester
      // gets an invalid request NAK (REM_INV_REQ_ERR), as on ibverbs.
      ResponderError(NakCode::kInvalidRequest, psn, true, WcStatus::kLocLenErr);
      return;
    }
    if (plen > 0) ScatterToSges(r.sge.data(), r.num_sge, resp_offset_, pkt.payload.data(), plen);
    resp_offset_ += plen;
    if (info.is_last || info.is_only) {
      in_msg_ = InMsg::kNone;
      ++msn_;
      CompleteRecv(r, WcStatus::kSuccess, WcOpcode::kRecv, static_cast<uint32_t>(resp_offset_),
                   info.has_immdt, pkt.immediate);
      ++rq_head_;
    }
  } else if (is_write) {
    if ((info.is_last || info.is_only) && info.has_immdt && rq_head_ == rq_tail_) {
      SendRnrNak(psn);  // WRITE_WITH_IMM consumes a receive WQE
      return;
    }
    if (!continues) {
      if (!(attr_.qp_access_flags & kAccessRemoteWrite)) {
        ResponderError(NakCode::kInvalidRequest, psn, false, WcStatus::kWrFlushErr);
        return;
      }
      if (!CheckRemote(pkt.reth.rkey, pkt.reth.virtual_address, pkt.reth.dma_length,
                       kAccessRemoteWrite)) {
        ResponderError(NakCode::kRemoteAccessError, psn, false, WcStatus::kWrFlushErr);
        return;
      }
      write_rkey_ = pkt.reth.rkey;
      write_va_ = pkt.reth.virtual_address;
      write_len_ = pkt.reth.dma_length;
      resp_offset_ = 0;
      in_msg_ = info.is_only ? InMsg::kNone : InMsg::kWrite;
      if (info.is_first && write_len_ <= mtu()) {
        ResponderError(NakCode::kInvalidRequest, psn, false, WcStatus::kWrFlushErr);
        return;
      }
    }
    bool final_pkt = info.is_last || info.is_only;
    if (resp_offset_ + plen > write_len_ || (final_pkt && resp_offset_ + plen != write_len_)) {
      ResponderError(NakCode::kInvalidRequest, psn, false, WcStatus::kWrFlushErr);
      return;
    }
    if (plen > 0) {
      // Re-checked per packet: the region may have been deregistered mid-message.
      if (!CheckRemote(write_rkey_, write_va_ + resp_offset_, plen, kAccessRemoteWrite)) {
        ResponderError(NakCode::kRemoteAccessError, psn, false, WcStatus::kWrFlushErr);
        return;
      }
      // The one copy on the receive side: packet payload -> registered memory.
      if (!pkt.payload.phantom()) {
        std::memcpy(reinterpret_cast<void*>(write_va_ + resp_offset_), pkt.payload.data(), plen);
      }
    }
    resp_offset_ += plen;
    if (final_pkt) {
      in_msg_ = InMsg::kNone;
      ++msn_;
      if (info.has_immdt) {
        CompleteRecv(rq(rq_head_), WcStatus::kSuccess, WcOpcode::kRecvRdmaWithImm, write_len_,
                     true, pkt.immediate);
        ++rq_head_;
      }
    }
  } else if (op == Opcode::kRdmaReadRequest) {
    if (!(attr_.qp_access_flags & kAccessRemoteRead)) {
      ResponderError(NakCode::kInvalidRequest, psn, false, WcStatus::kWrFlushErr);
      return;
    }
    if (!CheckRemote(pkt.reth.rkey, pkt.reth.virtual_address, pkt.reth.dma_length,
                     kAccessRemoteRead)) {
      ResponderError(NakCode::kRemoteAccessError, psn, false, WcStatus::kWrFlushErr);
      return;
    }
    Resource res;
    res.is_read = true;
    res.first_psn = psn;
    res.npkts = std::max<uint32_t>(1, (pkt.reth.dma_length + mtu() - 1) / mtu());
    res.reth = pkt.reth;
    if (resources_.size() >= std::max<uint32_t>(attr_.max_dest_rd_atomic, 1)) {
      resources_.erase(resources_.begin());
    }
    resources_.push_back(res);
    ++msn_;
    FlushPendingAck();
    SendReadResponses(pkt.reth, psn);
    resp_psn_ = PsnAdd(resp_psn_, res.npkts);
    return;  // the responses acknowledge the request
  } else {  // CompareSwap / FetchAdd
    const AtomicEth& a = pkt.atomic_eth;
    if (!(attr_.qp_access_flags & kAccessRemoteAtomic) || (a.virtual_address & 7) != 0) {
      ResponderError(NakCode::kInvalidRequest, psn, false, WcStatus::kWrFlushErr);
      return;
    }
    if (!CheckRemote(a.rkey, a.virtual_address, 8, kAccessRemoteAtomic)) {
      ResponderError(NakCode::kRemoteAccessError, psn, false, WcStatus::kWrFlushErr);
      return;
    }
    // Atomic with respect to every other access through this device: the engine runs on
    // one thread.
    // A phantom device has no memory behind its regions: the original value reads as 0.
    uint64_t orig = 0;
    if (!phantom()) {
      void* target = reinterpret_cast<void*>(a.virtual_address);
      std::memcpy(&orig, target, 8);
      uint64_t val = op == Opcode::kCompareSwap ? (orig == a.compare ? a.swap_or_add : orig)
                                                : orig + a.swap_or_add;
      std::memcpy(target, &val, 8);
    }
    Resource res;
    res.is_read = false;
    res.first_psn = psn;
    res.original = orig;
    if (resources_.size() >= std::max<uint32_t>(attr_.max_dest_rd_atomic, 1)) {
      resources_.erase(resources_.begin());
    }
    resources_.push_back(res);
    ++msn_;
    FlushPendingAck();
    SendAtomicAck(psn, orig);
    resp_psn_ = PsnAdd(resp_psn_, 1);
    return;
  }
  resp_psn_ = PsnAdd(resp_psn_, 1);
  if (pkt.bth.ack_request) ScheduleAck(psn);
}

void RcQp::OnDuplicateRequest(const RocePacket& pkt) {
  ++stats_.duplicates_received;
  const uint32_t psn = pkt.bth.psn;
  const Opcode op = pkt.opcode();
  if (op == Opcode::kRdmaReadRequest) {
    // Replay from the resource table: the request may ask for the tail of the original
    // (after a partial response), at a PSN inside the original's range.
    for (auto it = resources_.rbegin(); it != resources_.rend(); ++it) {
      if (!it->is_read) continue;
      int32_t off = PsnDiff(psn, it->first_psn);
      if (off < 0 || off >= static_cast<int32_t>(it->npkts)) continue;
      uint64_t skip = uint64_t(off) * mtu();
      if (pkt.reth.rkey != it->reth.rkey ||
          pkt.reth.virtual_address != it->reth.virtual_address + skip ||
          uint64_t{pkt.reth.dma_length} + skip != it->reth.dma_length) {
        break;  // not a retry of that READ
      }
      if (!CheckRemote(pkt.reth.rkey, pkt.reth.virtual_address, pkt.reth.dma_length,
                       kAccessRemoteRead)) {
        break;
      }
      FlushPendingAck();
      SendReadResponses(pkt.reth, psn);
      return;
    }
    ++stats_.dropped_packets;
    return;
  }
  if (op == Opcode::kCompareSwap || op == Opcode::kFetchAdd) {
    for (auto it = resources_.rbegin(); it != resources_.rend(); ++it) {
      if (!it->is_read && it->first_psn == psn) {
        // Never execute an atomic twice: resend the saved result.
        FlushPendingAck();
        SendAtomicAck(psn, it->original);
        return;
      }
    }
    ++stats_.dropped_packets;
    return;
  }
  // A duplicate SEND/WRITE packet: the data was placed already. Re-ACK the newest PSN so a
  // requester whose ACK was lost can make progress (coalesced with any pending ACK).
  if (pkt.bth.ack_request) ScheduleAck(PsnAdd(resp_psn_, kPsnMask));  // resp_psn_ - 1
}

}  // namespace s3rdma::emu
