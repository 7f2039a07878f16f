// The completer: ACKs, NAKs, READ responses and atomic ACKs; in-order completion of send
// WQEs; go-back-N retransmission on timeout / sequence NAK; RNR waits.
#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "emu/rc_qp.h"

namespace s3rdma::emu {

bool RcQp::CompleteFailedHead() {
  if (SqEmpty() || sq(sq_head_).state != WqeState::kFailed) return false;
  EnterError(sq(sq_head_).error, true);
  return true;
}

bool RcQp::AckBefore(uint32_t psn) {
  bool progress = false;
  bool ok = true;
  while (!SqEmpty()) {
    SendWqe& w = sq(sq_head_);
    if (w.state != WqeState::kSending && w.state != WqeState::kSent) break;
    if (PsnDiff(w.last_psn(), psn) >= 0) {
      // Partly acknowledged (a coalesced ACK inside a long SEND/WRITE).
      if (!w.is_read_or_atomic() && PsnDiff(psn, comp_psn_) > 0) {
        comp_psn_ = psn;
        progress = true;
        if (req_idx_ == sq_head_ && PsnDiff(psn, req_psn_) > 0) {
          // Being resent after a go-back-N, but the responder has more of it than we
          // thought (an ACK of the earlier transmission): skip what it already has.
          req_psn_ = psn;
          req_offset_ = static_cast<uint32_t>(PsnDiff(psn, w.first_psn)) * mtu();
        }
      }
      break;
    }
    if (w.is_read_or_atomic()) {
      // Acknowledged past a READ/atomic that has not got its response: the responses were
      // lost (an implicit NAK, IBTA 9.7.5.1.3).
      ok = false;
      break;
    }
    if (w.state == WqeState::kSending) {
      // Fully acknowledged while being resent (the ACK of the earlier transmission came
      // late): it is done; the requester continues with the next WQE.
      if (req_idx_ != sq_head_) break;  // cannot happen: only sq(req_idx_) is kSending
      ++req_idx_;
      req_offset_ = 0;
      noack_pkts_ = 0;
      if (PsnDiff(PsnAdd(w.last_psn(), 1), req_psn_) > 0) req_psn_ = PsnAdd(w.last_psn(), 1);
    }
    comp_psn_ = PsnAdd(w.last_psn(), 1);
    CompleteSend(w, WcStatus::kSuccess);
    ++sq_head_;
    progress = true;
  }
  if (progress) OnProgress();
  return ok;
}

void RcQp::OnProgress() {
  retry_left_ = attr_.retry_cnt;
  rnr_retry_left_ = attr_.rnr_retry;
  retry_started_ = false;
  retransmit_deadline_ = AckDeadline();
}

void RcQp::OnResponse(RocePacket&& pkt) {
  if (state_ != QpState::kRts) {
    ++stats_.dropped_packets;
    return;
  }
  const uint32_t psn = pkt.bth.psn;
  // A response to something never sent is bogus; one older than the oldest unacknowledged
  // PSN is a duplicate or a late ACK. (An ACK for comp_psn_ - 1 is stale too.)
  if (PsnDiff(psn, high_psn_) >= 0 || PsnDiff(psn, comp_psn_) < 0 || SqEmpty()) {
    ++stats_.dropped_packets;
    return;
  }
  const Opcode op = pkt.opcode();
  if (op == Opcode::kAcknowledge) {
    switch (pkt.aeth.kind()) {
      case AckKind::kAck:
        ++stats_.acks_received;
        if (!AckBefore(PsnAdd(psn, 1)) && !retry_started_) {
          retry_started_ = true;
          Retry();
        }
        break;
      case AckKind::kRnrNak:
        OnRnrNak(pkt);
        break;
      case AckKind::kNak: {
        AckBefore(psn);
        auto code = static_cast<NakCode>(pkt.aeth.value());
        if (code == NakCode::kPsnSequenceError) {
          ++stats_.seq_naks_received;
          // The responder expects `psn`: go back to it. Counts as a retry (IBTA C9-141).
          if (retry_started_ || PsnDiff(psn, comp_psn_) != 0) break;
          if (retry_left_ == 0) {
            EnterError(WcStatus::kRetryExcErr, true);
            return;
          }
          --retry_left_;
          retry_started_ = true;
          Retry();
          break;
        }
        WcStatus st = code == NakCode::kRemoteAccessError       ? WcStatus::kRemAccessErr
                      : code == NakCode::kRemoteOperationalError ? WcStatus::kRemOpErr
                      : code == NakCode::kInvalidRdRequest       ? WcStatus::kRemInvRdReqErr
                                                                 : WcStatus::kRemInvReqErr;
        if (!CompleteFailedHead()) EnterError(st, true);
        return;
      }
      case AckKind::kReserved:
        ++stats_.dropped_packets;
        return;
    }
  } else if (op == Opcode::kAtomicAcknowledge) {
    if (!AckBefore(psn)) {
      if (!retry_started_) {
        retry_started_ = true;
        Retry();
      }
      return;
    }
    if (SqEmpty()) return;
    SendWqe& w = sq(sq_head_);
    bool atomic = w.opcode == WrOpcode::kAtomicCmpAndSwp ||
                  w.opcode == WrOpcode::kAtomicFetchAndAdd;
    if (!atomic || w.state != WqeState::kSent || w.first_psn != psn || comp_psn_ != psn) {
      ++stats_.dropped_packets;
      return;
    }
    uint64_t orig = pkt.atomic_ack.original_data;
    uint8_t bytes[8];
    std::memcpy(bytes, &orig, 8);
    ScatterToSges(SendSges(w), w.num_sge, 0, phantom() ? nullptr : bytes, 8);
    comp_psn_ = PsnAdd(psn, 1);
    --rd_outstanding_;
    CompleteSend(w, WcStatus::kSuccess);
    ++sq_head_;
    OnProgress();
  } else if (pkt.info().valid && !pkt.info().is_request && op != Opcode::kAcknowledge) {
    // READ response FIRST / MIDDLE / LAST / ONLY.
    if (!AckBefore(psn)) {
      if (!retry_started_) {
        retry_started_ = true;
        Retry();
      }
      return;
    }
    if (SqEmpty()) return;
    SendWqe& w = sq(sq_head_);
    if (w.opcode != WrOpcode::kRdmaRead || w.state != WqeState::kSent) {
      ++stats_.dropped_packets;
      return;
    }
    if (psn != comp_psn_) {
      // A gap in the responses: go back and ask again for the rest (once per episode).
      ++stats_.dropped_packets;
      if (PsnDiff(psn, comp_psn_) > 0 && !retry_started_) {
        retry_started_ = true;
        Retry();
      }
      return;
    }
    const OpcodeInfo& info = pkt.info();
    const uint32_t remaining = w.length - w.read_bytes;
    const uint32_t len = static_cast<uint32_t>(pkt.payload.size());
    bool good = (info.is_first || info.is_middle) ? (len == mtu() && remaining > mtu())
                                                  : (len == remaining && len <= mtu());
    if (!good) {
      ++stats_.dropped_packets;
      return;
    }
    // The one copy on the receive side: packet payload -> user memory.
    if (len > 0) ScatterToSges(SendSges(w), w.num_sge, w.read_bytes, pkt.payload.data(), len);
    w.read_bytes += len;
    comp_psn_ = PsnAdd(psn, 1);
    if (w.read_bytes == w.length && (info.is_last || info.is_only)) {
      --rd_outstanding_;
      CompleteSend(w, WcStatus::kSuccess);
      ++sq_head_;
    }
    OnProgress();
  } else {
    ++stats_.dropped_packets;
    return;
  }
  if (state_ == QpState::kRts) {
    CompleteFailedHead();
    if (state_ == QpState::kRts) RunRequester();
  }
}

void RcQp::OnRnrNak(const RocePacket& pkt) {
  const uint32_t psn = pkt.bth.psn;
  ++stats_.rnr_naks_received;
  if (rnr_wait_) return;
  AckBefore(psn);
  if (SqEmpty() || PsnDiff(psn, comp_psn_) != 0) return;
  if (rnr_retry_left_ == 0) {
    EnterError(WcStatus::kRnrRetryExcErr, true);
    return;
  }
  if (attr_.rnr_retry != 7) --rnr_retry_left_;  // 7 means retry forever
  rnr_wait_ = true;
  retransmit_timer_.Cancel();
  retransmit_armed_ = false;
  // Everything after the RNR'd packet is discarded by the responder; resend from it once
  // the responder's RNR timer has passed.
  rnr_timer_ = device_->runtime().After(RnrTimerDelay(pkt.aeth.value()),
                                         [this, alive = std::weak_ptr<char>(alive_)] {
                                           if (alive.expired() || state_ != QpState::kRts) return;
                                           rnr_wait_ = false;
                                           Retry();
                                         });
}

void RcQp::OnRetransmitTimer() {
  if (state_ != QpState::kRts || rnr_wait_) return;
  if (PsnDiff(high_psn_, comp_psn_) <= 0) return;  // nothing outstanding
  core::Time now = device_->runtime().Now();
  if (now < retransmit_deadline_) {
    ArmRetransmitTimer();  // progress since the timer was set: wait for the new deadline
    return;
  }
  ++stats_.timeouts;
  if (retry_left_ == 0) {
    EnterError(WcStatus::kRetryExcErr, true);
    return;
  }
  --retry_left_;
  retry_started_ = true;
  Retry();
}

void RcQp::Retry() {
  if (state_ != QpState::kRts || SqEmpty()) return;
  // Rewind every WQE sent so far; the head resumes at the oldest unacknowledged PSN, the
  // others restart from scratch and get the same PSNs again.
  for (uint64_t i = sq_head_ + 1; i < sq_tail_; ++i) {
    SendWqe& w = sq(i);
    if (w.state == WqeState::kSending || w.state == WqeState::kSent) w.state = WqeState::kPending;
  }
  SendWqe& head = sq(sq_head_);
  rd_outstanding_ = 0;
  noack_pkts_ = 0;
  req_idx_ = sq_head_;
  req_offset_ = 0;
  req_psn_ = comp_psn_;
  if (head.state == WqeState::kSending || head.state == WqeState::kSent) {
    head.state = WqeState::kSending;
    if (head.is_read_or_atomic()) {
      rd_outstanding_ = 1;
    } else {
      req_offset_ = static_cast<uint32_t>(PsnDiff(comp_psn_, head.first_psn)) * mtu();
    }
  }
  retransmit_deadline_ = AckDeadline();
  RunRequester();
}

}  // namespace s3rdma::emu
