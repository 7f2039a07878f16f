// RcQp: the reliable-connected transport engine behind a QueuePair (internal to emu).
//
// Structured like Linux rxe: a requester (segments send WQEs into packets by path MTU,
// assigns PSNs, keeps a window of unacknowledged PSNs, asks for ACKs), a completer (handles
// ACK / NAK / READ responses / atomic ACKs, completes WQEs in order, retransmits go-back-N
// on timeout or sequence NAK, waits out RNR NAKs), and a responder (checks PSNs, places
// SEND/WRITE data, answers READs and atomics, NAKs what it must, re-ACKs duplicates and
// replays READ responses and atomic results from its resource table).
//
// Files: qp.cc (creation, Modify, Post*, error/flush), qp_requester.cc, qp_completer.cc,
// qp_responder.cc. Everything runs on the device's runtime thread.
#ifndef S3RDMA_EMU_RC_QP_H_
#define S3RDMA_EMU_RC_QP_H_

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/runtime.h"
#include "emu/roce_wire.h"
#include "emu/verbs.h"

namespace s3rdma::emu {

// 24-bit PSN arithmetic: signed distance a - b in (-2^23, 2^23].
inline int32_t PsnDiff(uint32_t a, uint32_t b) {
  return static_cast<int32_t>((a - b) << 8) >> 8;
}
inline uint32_t PsnAdd(uint32_t psn, uint32_t n) { return (psn + n) & kPsnMask; }

class RcQp {
 public:
  RcQp(ProtectionDomain* pd, const QpInitAttr& init);
  ~RcQp();

  uint32_t qpn() const { return qpn_; }
  QpState state() const { return state_; }
  const QpAttr& attr() const { return attr_; }
  const QpStats& stats() const { return stats_; }
  ProtectionDomain& pd() const { return *pd_; }

  int Modify(const QpAttr& attr, uint32_t mask);
  int PostSend(const SendWr& wr);
  int PostRecv(const RecvWr& wr);

  // Device side: a packet whose BTH names this QP.
  void OnPacket(RocePacket&& pkt);

 private:
  // kPending: posted, not started; kSending: packets partly sent; kSent: every packet (or
  // the READ request) sent, awaiting ACK/response; kFailed: failed local checks, completes
  // with `error` when it reaches the head of the queue; kDone: completed.
  enum class WqeState : uint8_t { kPending, kSending, kSent, kFailed, kDone };

  struct SendWqe {
    uint64_t wr_id = 0;
    WrOpcode opcode = WrOpcode::kSend;
    uint32_t send_flags = 0;
    uint32_t imm_data = 0;
    uint64_t remote_addr = 0;
    uint32_t rkey = 0;
    uint64_t compare_add = 0;
    uint64_t swap = 0;
    uint32_t num_sge = 0;
    uint32_t slot = 0;  // ring position whose SGE storage (SendSges) holds this WQE's list
    bool is_inline = false;
    std::vector<uint8_t> inline_data;  // capacity kept across reuse of the slot
    uint32_t length = 0;               // total message bytes
    bool signaled = false;
    WqeState state = WqeState::kPending;
    uint32_t first_psn = 0;  // valid once started
    uint32_t npkts = 0;      // PSNs the message consumes (READ: response packets)
    uint32_t read_bytes = 0;  // READ response bytes placed so far
    WcStatus error = WcStatus::kSuccess;

    uint32_t last_psn() const { return PsnAdd(first_psn, npkts - 1); }
    bool is_read_or_atomic() const {
      return opcode == WrOpcode::kRdmaRead || opcode == WrOpcode::kAtomicCmpAndSwp ||
             opcode == WrOpcode::kAtomicFetchAndAdd;
    }
  };

  struct RecvWqe {
    uint64_t wr_id = 0;
    uint32_t num_sge = 0;
    std::array<Sge, kMaxSge> sge{};
  };

  // A READ or atomic the responder executed, kept to replay duplicates.
  struct Resource {
    bool is_read = false;
    uint32_t first_psn = 0;
    uint32_t npkts = 1;
    Reth reth;             // READ
    uint64_t original = 0;  // atomic result
  };

  // ---- qp.cc ----
  uint32_t mtu() const { return mtu_bytes_; }
  // Bytes per packet for `path_mtu`: the device's simulation-only message MTU when its
  // fabric advertises one (Fabric::message_mtu_bytes), else the path MTU.
  uint32_t PacketBytes(Mtu path_mtu) const;
  // True when the device's fabric carries phantom payloads: no byte of registered memory is
  // ever read or written (Fabric::phantom_payloads).
  bool phantom() const;
  SendWqe& sq(size_t idx) { return sq_[idx % sq_.size()]; }
  // The scatter/gather list of a posted send WQE (num_sge entries).
  const Sge* SendSges(const SendWqe& w) const {
    return sq_sge_.data() + size_t{w.slot} * sq_sge_stride_;
  }
  RecvWqe& rq(size_t idx) { return rq_[idx % rq_.size()]; }
  bool SqEmpty() const { return sq_head_ == sq_tail_; }
  // Moves to ERR: the WQE at the head of the SQ (if `fail_head`) completes with `status`,
  // then every outstanding SQ and RQ WQE completes with kWrFlushErr.
  void EnterError(WcStatus head_status, bool fail_head);
  void FlushAll();
  void CompleteSend(SendWqe& w, WcStatus status);
  void CompleteRecv(const RecvWqe& w, WcStatus status, WcOpcode op, uint32_t byte_len,
                    bool with_imm, uint32_t imm);
  void SendPacket(RocePacket&& pkt);
  RocePacket NewPacket(Opcode op, uint32_t psn) const;
  // Checks that `n` SGEs cover `len` bytes of registered memory with `access`.
  bool SgesValid(const Sge* sge, uint32_t n, uint32_t access) const;
  // Copies between a message (offset within the SGE list) and flat bytes.
  void GatherFromSges(const Sge* sge, uint32_t n, uint64_t offset, uint8_t* dst,
                      size_t len) const;
  // Returns false if the SGEs cannot hold [offset, offset+len). A null `src` (a phantom
  // payload) places nothing.
  bool ScatterToSges(const Sge* sge, uint32_t n, uint64_t offset, const uint8_t* src,
                     size_t len) const;

  // ---- qp_requester.cc ----
  // Sends as many packets as the window, credits and fences allow.
  void RunRequester();
  void ScheduleRequester();
  // Builds and sends the next packet of `w` (or the READ request / atomic). Returns false
  // if the WQE failed local checks (the QP is then in ERR).
  bool StartWqe(SendWqe& w);
  void SendNextPacket(SendWqe& w);
  void ArmRetransmitTimer();
  // Now + the local ACK timeout; Time::Max() when the timeout is infinite (attribute 0), so
  // the sum never overflows.
  core::Time AckDeadline() const;

  // ---- qp_completer.cc ----
  void OnResponse(RocePacket&& pkt);
  // Completes SEND/WRITE WQEs whose last PSN precedes `psn` (exclusive). Returns false if a
  // READ/atomic WQE before `psn` has not got its response (responses were lost: retry).
  bool AckBefore(uint32_t psn);
  // Completes a failed WQE that reached the head of the SQ (then the QP is in ERR).
  // Returns true if it did.
  bool CompleteFailedHead();
  // Go-back-N: resend from the oldest unacknowledged PSN.
  void Retry();
  void OnRetransmitTimer();
  void OnProgress();
  void OnRnrNak(const RocePacket& pkt);

  // ---- qp_responder.cc ----
  void OnRequest(RocePacket&& pkt);
  void OnDuplicateRequest(const RocePacket& pkt);
  void SendAck(uint32_t psn);
  void ScheduleAck(uint32_t psn);
  void FlushPendingAck();
  void SendNak(NakCode code, uint32_t psn);
  void SendRnrNak(uint32_t psn);
  // Responder-side fatal error: NAK `code`, then ERR (the head RQ WQE, if consumed by the
  // failing message, completes with `recv_status`).
  void ResponderError(NakCode code, uint32_t psn, bool fail_recv, WcStatus recv_status);
  // True if [va, va+len) is in a region of this PD reachable with `rkey` and `access`.
  bool CheckRemote(uint32_t rkey, uint64_t va, uint64_t len, uint32_t access) const;
  void SendReadResponses(const Reth& reth, uint32_t first_psn);
  void SendAtomicAck(uint32_t psn, uint64_t original);

  Device* device_;
  ProtectionDomain* pd_;
  CompletionQueue* send_cq_;
  CompletionQueue* recv_cq_;
  QpCap cap_;
  bool sq_sig_all_;
  uint32_t qpn_ = 0;
  QpState state_ = QpState::kReset;
  QpAttr attr_;
  QpStats stats_;
  uint32_t mtu_bytes_ = 1024;
  NodeAddress dest_addr_;  // from the AV
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);

  // Send queue ring (grown on demand up to cap_.max_send_wr; WQE idx is at idx % size):
  // [sq_head_, sq_tail_) are posted and not yet completed;
  // [sq_head_, req_idx_) have been (at least partly) sent.
  std::vector<SendWqe> sq_;
  // SGE lists of the send ring, max(cap.max_send_sge, 1) entries per ring position: sized by
  // the QP's cap rather than kMaxSge in every WQE (a server holds one QP per client, most
  // posting one SGE per WR, so 16 inline SGEs were most of a simulation's memory).
  std::vector<Sge> sq_sge_;
  size_t sq_sge_stride_ = 1;
  uint64_t sq_head_ = 0;
  uint64_t sq_tail_ = 0;
  uint64_t req_idx_ = 0;
  uint32_t req_offset_ = 0;   // bytes of sq(req_idx_) already sent (SEND/WRITE)
  uint32_t req_psn_ = 0;      // next PSN to send
  uint32_t comp_psn_ = 0;     // oldest unacknowledged PSN
  uint32_t high_psn_ = 0;     // one past the highest PSN ever sent
  bool planted_reuse_pending_ = false;  // DeviceOptions::plant_reuse_psn: a retransmit happened
  uint32_t noack_pkts_ = 0;   // packets since the last ACK request
  uint32_t rd_outstanding_ = 0;
  bool requester_scheduled_ = false;
  bool rnr_wait_ = false;
  bool retry_started_ = false;  // a retry for the current loss episode is in progress
  uint8_t retry_left_ = 0;
  uint8_t rnr_retry_left_ = 0;
  core::TimerHandle retransmit_timer_;
  bool retransmit_armed_ = false;
  core::Time retransmit_deadline_;
  core::TimerHandle rnr_timer_;

  // Receive queue ring.
  std::vector<RecvWqe> rq_;
  uint64_t rq_head_ = 0;
  uint64_t rq_tail_ = 0;

  // Responder.
  uint32_t resp_psn_ = 0;  // expected PSN
  uint32_t msn_ = 0;
  bool nak_seq_sent_ = false;
  // The message in progress: 0 = none, else the opcode family (SEND or WRITE).
  enum class InMsg : uint8_t { kNone, kSend, kWrite } in_msg_ = InMsg::kNone;
  uint64_t resp_offset_ = 0;     // bytes of the current message placed so far
  uint32_t write_rkey_ = 0;
  uint64_t write_va_ = 0;
  uint32_t write_len_ = 0;
  // Oldest first, at most max(max_dest_rd_atomic, 1) entries (a handful): a vector, which
  // allocates nothing until the first READ/atomic, where a deque allocates ~600 bytes in
  // every QP's constructor (simulations create tens of thousands of QPs that never see one).
  std::vector<Resource> resources_;
  bool ack_scheduled_ = false;
  uint32_t ack_psn_ = 0;
};

}  // namespace s3rdma::emu

#endif  // S3RDMA_EMU_RC_QP_H_
