// QueuePair / RcQp: creation, the ibverbs state machine, posting, completions and flushing.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/check.h"
#include "emu/rc_qp.h"

namespace s3rdma::emu {

// ---- QueuePair: the public face forwards to the engine ----------------------------------

QueuePair::QueuePair(std::unique_ptr<RcQp> impl) : impl_(std::move(impl)) {}
QueuePair::~QueuePair() = default;
uint32_t QueuePair::qp_num() const { return impl_->qpn(); }
QpState QueuePair::state() const { return impl_->state(); }
const QpAttr& QueuePair::attr() const { return impl_->attr(); }
const QpStats& QueuePair::stats() const { return impl_->stats(); }
int QueuePair::Modify(const QpAttr& attr, uint32_t mask) { return impl_->Modify(attr, mask); }

int ConnectRcQp(QueuePair& qp, QpAttr attr, QpState* failed_at) {
  attr.qp_state = QpState::kRtr;
  int rc = qp.Modify(attr, kQpAttrState | kQpAttrAv | kQpAttrPathMtu | kQpAttrDestQpn |
                               kQpAttrRqPsn | kQpAttrMaxDestRdAtomic | kQpAttrMinRnrTimer);
  if (rc != 0) {
    if (failed_at != nullptr) *failed_at = QpState::kRtr;
    return rc;
  }
  attr.qp_state = QpState::kRts;
  rc = qp.Modify(attr, kQpAttrState | kQpAttrSqPsn | kQpAttrTimeout | kQpAttrRetryCnt |
                           kQpAttrRnrRetry | kQpAttrMaxQpRdAtomic);
  if (rc != 0 && failed_at != nullptr) *failed_at = QpState::kRts;
  return rc;
}
int QueuePair::PostSend(const SendWr& wr) { return impl_->PostSend(wr); }
int QueuePair::PostRecv(const RecvWr& wr) { return impl_->PostRecv(wr); }
ProtectionDomain& QueuePair::pd() const { return impl_->pd(); }

// ---- RcQp ---------------------------------------------------------------------------------

RcQp::RcQp(ProtectionDomain* pd, const QpInitAttr& init)
    : device_(&pd->device()),
      pd_(pd),
      send_cq_(init.send_cq),
      recv_cq_(init.recv_cq),
      cap_(init.cap),
      sq_sig_all_(init.sq_sig_all) {
  // The rings are allocated at the first Post (many QPs only ever respond).
  qpn_ = device_->AddQp(this);
  ++send_cq_->users_;
  ++recv_cq_->users_;
}

RcQp::~RcQp() {
  retransmit_timer_.Cancel();
  retransmit_armed_ = false;
  rnr_timer_.Cancel();
  device_->RemoveQp(qpn_);
  --send_cq_->users_;
  --recv_cq_->users_;
  --pd_->live_objects_;
}

namespace {

bool ValidState(QpState s) {
  return s == QpState::kReset || s == QpState::kInit || s == QpState::kRtr ||
         s == QpState::kRts || s == QpState::kErr;
}

// Attributes each transition requires and allows (IBTA table "QP state transition
// properties", as rdma-core's ibv_modify_qp and the kernel's ib_modify_qp_is_ok check them;
// P_Key index and port, which we do not model, are left out).
struct Transition {
  uint32_t required;
  uint32_t optional;
};

bool LookupTransition(QpState from, QpState to, Transition* t) {
  constexpr uint32_t kRtrRequired = kQpAttrAv | kQpAttrPathMtu | kQpAttrDestQpn |
                                    kQpAttrRqPsn | kQpAttrMaxDestRdAtomic |
                                    kQpAttrMinRnrTimer;
  constexpr uint32_t kRtsRequired = kQpAttrSqPsn | kQpAttrTimeout | kQpAttrRetryCnt |
                                    kQpAttrRnrRetry | kQpAttrMaxQpRdAtomic;
  if (to == QpState::kReset || to == QpState::kErr) {
    *t = {0, 0};
    return true;
  }
  switch (from) {
    case QpState::kReset:
      if (to == QpState::kInit) { *t = {kQpAttrAccessFlags, 0}; return true; }
      return false;
    case QpState::kInit:
      if (to == QpState::kInit) { *t = {0, kQpAttrAccessFlags}; return true; }
      if (to == QpState::kRtr) { *t = {kRtrRequired, kQpAttrAccessFlags}; return true; }
      return false;
    case QpState::kRtr:
      if (to == QpState::kRts) {
        *t = {kRtsRequired, kQpAttrAccessFlags | kQpAttrMinRnrTimer};
        return true;
      }
      return false;
    case QpState::kRts:
      if (to == QpState::kRts) {
        *t = {0, kQpAttrAccessFlags | kQpAttrMinRnrTimer};
        return true;
      }
      return false;
    default:
      return false;
  }
}

}  // namespace

int RcQp::Modify(const QpAttr& a, uint32_t mask) {
  QpState to = (mask & kQpAttrState) ? a.qp_state : state_;
  if (!ValidState(to)) return EINVAL;
  Transition t;
  if (!LookupTransition(state_, to, &t)) return EINVAL;
  uint32_t attrs = mask & ~kQpAttrState;
  if ((attrs & t.required) != t.required) return EINVAL;
  if (attrs & ~(t.required | t.optional)) return EINVAL;

  // Validate values before changing anything, so a failed Modify changes nothing.
  constexpr uint32_t kRemote = kAccessRemoteWrite | kAccessRemoteRead | kAccessRemoteAtomic;
  if ((attrs & kQpAttrAccessFlags) && (a.qp_access_flags & ~(kRemote | kAccessLocalWrite))) {
    return EINVAL;
  }
  if ((attrs & kQpAttrPathMtu) && MtuBytes(a.path_mtu) == 0) return EINVAL;
  if ((attrs & kQpAttrAv) && !Ipv4FromGid(a.dest_gid).ok()) return EINVAL;
  if ((attrs & kQpAttrDestQpn) && (a.dest_qp_num == 0 || a.dest_qp_num > kQpnMask)) {
    return EINVAL;
  }
  if ((attrs & kQpAttrRqPsn) && a.rq_psn > kPsnMask) return EINVAL;
  if ((attrs & kQpAttrSqPsn) && a.sq_psn > kPsnMask) return EINVAL;
  if ((attrs & kQpAttrTimeout) && a.timeout > 31) return EINVAL;
  if ((attrs & kQpAttrRetryCnt) && a.retry_cnt > 7) return EINVAL;
  if ((attrs & kQpAttrRnrRetry) && a.rnr_retry > 7) return EINVAL;
  if ((attrs & kQpAttrMinRnrTimer) && a.min_rnr_timer > 31) return EINVAL;
  if ((attrs & kQpAttrMaxQpRdAtomic) && a.max_rd_atomic > kMaxRdAtomic) return EINVAL;
  if ((attrs & kQpAttrMaxDestRdAtomic) && a.max_dest_rd_atomic > kMaxRdAtomic) return EINVAL;

  if (attrs & kQpAttrAccessFlags) attr_.qp_access_flags = a.qp_access_flags;
  if (attrs & kQpAttrPathMtu) {
    attr_.path_mtu = a.path_mtu;
    mtu_bytes_ = PacketBytes(a.path_mtu);
  }
  if (attrs & kQpAttrAv) {
    attr_.dest_gid = a.dest_gid;
    attr_.dest_udp_port = a.dest_udp_port;
    dest_addr_ = NodeAddress{Ipv4FromGid(a.dest_gid).value(), a.dest_udp_port};
  }
  if (attrs & kQpAttrDestQpn) attr_.dest_qp_num = a.dest_qp_num;
  if (attrs & kQpAttrRqPsn) {
    attr_.rq_psn = a.rq_psn;
    resp_psn_ = a.rq_psn;
  }
  if (attrs & kQpAttrSqPsn) {
    attr_.sq_psn = a.sq_psn;
    req_psn_ = a.sq_psn;
    comp_psn_ = a.sq_psn;
    high_psn_ = a.sq_psn;
  }
  if (attrs & kQpAttrTimeout) attr_.timeout = a.timeout;
  if (attrs & kQpAttrRetryCnt) {
    attr_.retry_cnt = a.retry_cnt;
    retry_left_ = a.retry_cnt;
  }
  if (attrs & kQpAttrRnrRetry) {
    attr_.rnr_retry = a.rnr_retry;
    rnr_retry_left_ = a.rnr_retry;
  }
  if (attrs & kQpAttrMinRnrTimer) attr_.min_rnr_timer = a.min_rnr_timer;
  if (attrs & kQpAttrMaxQpRdAtomic) attr_.max_rd_atomic = a.max_rd_atomic;
  if (attrs & kQpAttrMaxDestRdAtomic) attr_.max_dest_rd_atomic = a.max_dest_rd_atomic;

  QpState from = state_;
  if (to == QpState::kErr && from != QpState::kErr) {
    EnterError(WcStatus::kWrFlushErr, false);
  } else if (to == QpState::kReset) {
    // Back to a fresh QP: everything outstanding is discarded without completions.
    retransmit_timer_.Cancel();
    retransmit_armed_ = false;
    rnr_timer_.Cancel();
    sq_head_ = sq_tail_ = req_idx_ = 0;
    rq_head_ = rq_tail_ = 0;
    req_offset_ = noack_pkts_ = rd_outstanding_ = 0;
    rnr_wait_ = retry_started_ = nak_seq_sent_ = ack_scheduled_ = false;
    in_msg_ = InMsg::kNone;
    resources_.clear();
    msn_ = 0;
    attr_ = QpAttr{};
    mtu_bytes_ = PacketBytes(attr_.path_mtu);
    state_ = QpState::kReset;
  } else {
    state_ = to;
  }
  attr_.qp_state = state_;
  if (state_ == QpState::kRts && from != QpState::kRts) ScheduleRequester();
  return 0;
}

int RcQp::PostSend(const SendWr& wr) {
  if (state_ != QpState::kRts && state_ != QpState::kErr) return EINVAL;
  if (wr.sg_list.size() > cap_.max_send_sge) return EINVAL;
  switch (wr.opcode) {
    case WrOpcode::kRdmaWrite:
    case WrOpcode::kRdmaWriteWithImm:
    case WrOpcode::kSend:
    case WrOpcode::kSendWithImm:
    case WrOpcode::kRdmaRead:
    case WrOpcode::kAtomicCmpAndSwp:
    case WrOpcode::kAtomicFetchAndAdd:
      break;
    default:
      return EINVAL;
  }
  uint64_t len = 0;
  for (const Sge& s : wr.sg_list) len += s.length;
  if (len > kMaxMsgSize) return EINVAL;
  bool atomic = wr.opcode == WrOpcode::kAtomicCmpAndSwp ||
                wr.opcode == WrOpcode::kAtomicFetchAndAdd;
  bool is_inline = (wr.send_flags & kSendInline) != 0;
  if (is_inline) {
    // Inline applies to SEND and WRITE only; the bytes are copied now and need no lkey.
    if (wr.opcode == WrOpcode::kRdmaRead || atomic) return EINVAL;
    if (len > cap_.max_inline_data) return EINVAL;
  }
  if (sq_tail_ - sq_head_ >= cap_.max_send_wr) return ENOMEM;
  if (sq_tail_ - sq_head_ == sq_.size()) {
    // Grow (doubling, up to max_send_wr): WQE idx lives at idx % size, so re-place the
    // outstanding ones.
    std::vector<SendWqe> bigger(std::min<size_t>(cap_.max_send_wr, std::max<size_t>(8, sq_.size() * 2)));
    sq_sge_stride_ = std::max<size_t>(cap_.max_send_sge, 1);
    std::vector<Sge> bigger_sge(bigger.size() * sq_sge_stride_);
    for (uint64_t i = sq_head_; i != sq_tail_; ++i) {
      SendWqe& w = sq(i);
      const uint32_t slot = static_cast<uint32_t>(i % bigger.size());
      std::copy_n(SendSges(w), w.num_sge, bigger_sge.data() + slot * sq_sge_stride_);
      w.slot = slot;
      bigger[slot] = std::move(w);
    }
    sq_ = std::move(bigger);
    sq_sge_ = std::move(bigger_sge);
  }

  SendWqe& w = sq(sq_tail_);
  w.wr_id = wr.wr_id;
  w.opcode = wr.opcode;
  w.send_flags = wr.send_flags;
  w.imm_data = wr.imm_data;
  if (atomic) {
    w.remote_addr = wr.atomic.remote_addr;
    w.rkey = wr.atomic.rkey;
  } else {
    w.remote_addr = wr.rdma.remote_addr;
    w.rkey = wr.rdma.rkey;
  }
  w.compare_add = wr.atomic.compare_add;
  w.swap = wr.atomic.swap;
  w.num_sge = static_cast<uint32_t>(wr.sg_list.size());
  w.slot = static_cast<uint32_t>(sq_tail_ % sq_.size());
  std::copy(wr.sg_list.begin(), wr.sg_list.end(),
            sq_sge_.begin() + static_cast<std::ptrdiff_t>(w.slot * sq_sge_stride_));
  w.is_inline = is_inline;
  w.length = static_cast<uint32_t>(len);
  if (is_inline && !phantom()) {
    w.inline_data.resize(len);
    uint64_t off = 0;
    for (const Sge& s : wr.sg_list) {
      if (s.length) std::memcpy(w.inline_data.data() + off, reinterpret_cast<const void*>(s.addr), s.length);
      off += s.length;
    }
  }
  w.signaled = sq_sig_all_ || (wr.send_flags & kSendSignaled);
  w.state = WqeState::kPending;
  w.first_psn = 0;
  w.npkts = 0;
  w.read_bytes = 0;
  w.error = WcStatus::kSuccess;
  ++sq_tail_;
  if (state_ == QpState::kErr) {
    // ibverbs (rxe) accepts work in ERR and completes it with a flush error.
    device_->runtime().Post([this, alive = std::weak_ptr<char>(alive_)] {
      if (!alive.expired() && state_ == QpState::kErr) FlushAll();
    });
  } else if (!requester_scheduled_) {
    // Like ringing a NIC's doorbell: the packets go out now. Safe because the engine
    // never calls user code synchronously (completion handlers are posted), so PostSend
    // cannot be re-entered from inside the requester.
    RunRequester();
  }
  return 0;
}

int RcQp::PostRecv(const RecvWr& wr) {
  if (state_ == QpState::kReset) return EINVAL;
  if (wr.sg_list.size() > cap_.max_recv_sge) return EINVAL;
  if (cap_.max_recv_wr == 0 || rq_tail_ - rq_head_ >= cap_.max_recv_wr) return ENOMEM;
  if (rq_.empty()) rq_.resize(cap_.max_recv_wr);
  RecvWqe& w = rq(rq_tail_);
  w.wr_id = wr.wr_id;
  w.num_sge = static_cast<uint32_t>(wr.sg_list.size());
  std::copy(wr.sg_list.begin(), wr.sg_list.end(), w.sge.begin());
  ++rq_tail_;
  if (state_ == QpState::kErr) {
    device_->runtime().Post([this, alive = std::weak_ptr<char>(alive_)] {
      if (!alive.expired() && state_ == QpState::kErr) FlushAll();
    });
  }
  return 0;
}

// ---- completions and errors ----------------------------------------------------------------

namespace {
WcOpcode SendWcOpcode(WrOpcode op) {
  switch (op) {
    case WrOpcode::kRdmaWrite:
    case WrOpcode::kRdmaWriteWithImm: return WcOpcode::kRdmaWrite;
    case WrOpcode::kSend:
    case WrOpcode::kSendWithImm: return WcOpcode::kSend;
    case WrOpcode::kRdmaRead: return WcOpcode::kRdmaRead;
    case WrOpcode::kAtomicCmpAndSwp: return WcOpcode::kCompSwap;
    case WrOpcode::kAtomicFetchAndAdd: return WcOpcode::kFetchAdd;
  }
  return WcOpcode::kSend;
}
}  // namespace

void RcQp::CompleteSend(SendWqe& w, WcStatus status) {
  w.state = WqeState::kDone;
  // Errors always produce a completion, even for unsignalled WRs (IBTA 10.8.3).
  if (!w.signaled && status == WcStatus::kSuccess) return;
  WorkCompletion wc;
  wc.wr_id = w.wr_id;
  wc.status = status;
  wc.opcode = SendWcOpcode(w.opcode);
  wc.byte_len = w.opcode == WrOpcode::kRdmaRead ? w.length
                : (w.opcode == WrOpcode::kAtomicCmpAndSwp ||
                   w.opcode == WrOpcode::kAtomicFetchAndAdd) ? 8 : w.length;
  wc.qp_num = qpn_;
  wc.src_qp = attr_.dest_qp_num;
  send_cq_->Push(wc);
}

void RcQp::CompleteRecv(const RecvWqe& w, WcStatus status, WcOpcode op, uint32_t byte_len,
                        bool with_imm, uint32_t imm) {
  WorkCompletion wc;
  wc.wr_id = w.wr_id;
  wc.status = status;
  wc.opcode = op;
  wc.byte_len = byte_len;
  wc.imm_data = with_imm ? imm : 0;
  wc.wc_flags = with_imm ? kWcWithImm : 0;
  wc.qp_num = qpn_;
  wc.src_qp = attr_.dest_qp_num;
  recv_cq_->Push(wc);
}

void RcQp::EnterError(WcStatus head_status, bool fail_head) {
  if (fail_head && !SqEmpty()) {
    SendWqe& head = sq(sq_head_);
    CompleteSend(head, head_status);
    ++sq_head_;
  }
  state_ = QpState::kErr;
  attr_.qp_state = state_;
  retransmit_timer_.Cancel();
  retransmit_armed_ = false;
  rnr_timer_.Cancel();
  rnr_wait_ = false;
  ack_scheduled_ = false;
  FlushAll();
}

void RcQp::FlushAll() {
  while (!SqEmpty()) {
    SendWqe& w = sq(sq_head_);
    CompleteSend(w, WcStatus::kWrFlushErr);
    ++sq_head_;
  }
  req_idx_ = sq_head_;
  req_offset_ = 0;
  rd_outstanding_ = 0;
  while (rq_head_ != rq_tail_) {
    CompleteRecv(rq(rq_head_), WcStatus::kWrFlushErr, WcOpcode::kRecv, 0, false, 0);
    ++rq_head_;
  }
  in_msg_ = InMsg::kNone;
}

// ---- memory helpers ------------------------------------------------------------------------

bool RcQp::SgesValid(const Sge* sge, uint32_t n, uint32_t access) const {
  for (uint32_t i = 0; i < n; ++i) {
    if (sge[i].length == 0) continue;
    MemoryRegion* mr = device_->FindMr(sge[i].lkey);
    if (mr == nullptr || &mr->pd() != pd_ || !mr->Covers(sge[i].addr, sge[i].length, access)) {
      return false;
    }
  }
  return true;
}

uint32_t RcQp::PacketBytes(Mtu path_mtu) const {
  const uint32_t message_mtu = device_->message_mtu_bytes();
  return message_mtu > 0 ? message_mtu : MtuBytes(path_mtu);
}

bool RcQp::phantom() const { return device_->phantom_payloads(); }

void RcQp::GatherFromSges(const Sge* sge, uint32_t n, uint64_t offset, uint8_t* dst,
                          size_t len) const {
  for (uint32_t i = 0; i < n && len > 0; ++i) {
    if (offset >= sge[i].length) {
      offset -= sge[i].length;
      continue;
    }
    size_t take = std::min<uint64_t>(sge[i].length - offset, len);
    std::memcpy(dst, reinterpret_cast<const void*>(sge[i].addr + offset), take);
    dst += take;
    len -= take;
    offset = 0;
  }
}

bool RcQp::ScatterToSges(const Sge* sge, uint32_t n, uint64_t offset, const uint8_t* src,
                         size_t len) const {
  for (uint32_t i = 0; i < n && len > 0; ++i) {
    if (offset >= sge[i].length) {
      offset -= sge[i].length;
      continue;
    }
    size_t take = std::min<uint64_t>(sge[i].length - offset, len);
    if (src != nullptr) {
      std::memcpy(reinterpret_cast<void*>(sge[i].addr + offset), src, take);
      src += take;
    }
    len -= take;
    offset = 0;
  }
  return len == 0;
}

// ---- packets -------------------------------------------------------------------------------

RocePacket RcQp::NewPacket(Opcode op, uint32_t psn) const {
  RocePacket p;
  p.address.src_port = RoceSourcePort(qpn_);
  p.bth.opcode = static_cast<uint8_t>(op);
  p.bth.dest_qp = attr_.dest_qp_num;
  p.bth.psn = psn & kPsnMask;
  return p;
}

void RcQp::SendPacket(RocePacket&& pkt) {
  ++stats_.packets_sent;
  device_->SendPacket(dest_addr_, std::move(pkt));
}

void RcQp::OnPacket(RocePacket&& pkt) {
  ++stats_.packets_received;
  // An RC QP talks to one peer only (rxe's check_addr): anything else is dropped.
  if (pkt.address.src_ip != dest_addr_.ipv4) {
    ++stats_.dropped_packets;
    return;
  }
  if (pkt.info().is_request) {
    OnRequest(std::move(pkt));
  } else {
    OnResponse(std::move(pkt));
  }
}

}  // namespace s3rdma::emu
