// A verbs-like API over the software RDMA NIC: devices, protection domains, memory regions,
// completion queues and reliable-connected (RC) queue pairs.
//
// Names, values and meanings follow rdma-core's <infiniband/verbs.h> (ibv_wc_status,
// ibv_wc_opcode, ibv_wr_opcode, ibv_qp_state, ibv_mtu, IBV_ACCESS_*, IBV_SEND_*, IBV_QP_*
// attribute masks); tests check the numeric values against that header. What differs:
// C++ ownership (objects are returned as unique_ptr and must be destroyed children first:
// QPs and MRs before their PD, QPs before their CQs, everything before the Device), and the
// immediate value is carried in host byte order (it is big-endian on the wire).
//
// Threading: a Device and all its objects belong to the core::Runtime they were created on
// and are used from that runtime's thread only. Nothing here blocks or reads the wall clock:
// timers go through Runtime::After, packets through the Fabric, so the same code runs in
// virtual time (VirtualRuntime + in-process fabric) and in real time (RealRuntime + UDP).
//
// Post* return 0 or a positive errno (EINVAL, ENOMEM) like ibverbs; the outcome of a posted
// work request arrives later as a WorkCompletion on the QP's CQ.
#ifndef S3RDMA_EMU_VERBS_H_
#define S3RDMA_EMU_VERBS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/runtime.h"
#include "core/status.h"
#include "emu/fabric.h"

namespace s3rdma::emu {

// ibv_wc_status, same order and values.
enum class WcStatus : uint32_t {
  kSuccess = 0,
  kLocLenErr,
  kLocQpOpErr,
  kLocEecOpErr,
  kLocProtErr,
  kWrFlushErr,
  kMwBindErr,
  kBadRespErr,
  kLocAccessErr,
  kRemInvReqErr,
  kRemAccessErr,
  kRemOpErr,
  kRetryExcErr,
  kRnrRetryExcErr,
  kLocRddViolErr,
  kRemInvRdReqErr,
  kRemAbortErr,
  kInvEecnErr,
  kInvEecStateErr,
  kFatalErr,
  kRespTimeoutErr,
  kGeneralErr,
};
// "SUCCESS", "RETRY_EXC_ERR", ... (the IBV_WC_ suffix).
const char* WcStatusName(WcStatus s);

// ibv_wc_opcode (the subset an RC QP produces), same values.
enum class WcOpcode : uint32_t {
  kSend = 0,
  kRdmaWrite = 1,
  kRdmaRead = 2,
  kCompSwap = 3,
  kFetchAdd = 4,
  kRecv = 1 << 7,
  kRecvRdmaWithImm = (1 << 7) + 1,
};
const char* WcOpcodeName(WcOpcode op);

// ibv_wr_opcode (the subset an RC QP supports), same values.
enum class WrOpcode : uint32_t {
  kRdmaWrite = 0,
  kRdmaWriteWithImm = 1,
  kSend = 2,
  kSendWithImm = 3,
  kRdmaRead = 4,
  kAtomicCmpAndSwp = 5,
  kAtomicFetchAndAdd = 6,
};

// ibv_qp_state, same values. SQD and SQE exist for value compatibility; an RC QP here never
// enters them.
enum class QpState : uint32_t { kReset = 0, kInit, kRtr, kRts, kSqd, kSqe, kErr };
const char* QpStateName(QpState s);

// ibv_mtu, same values.
enum class Mtu : uint32_t { k256 = 1, k512 = 2, k1024 = 3, k2048 = 4, k4096 = 5 };
// Bytes of payload per packet for `mtu` (256..4096); 0 for an invalid value.
uint32_t MtuBytes(Mtu mtu);

// IBV_ACCESS_* flags (memory regions and qp_access_flags).
inline constexpr uint32_t kAccessLocalWrite = 1;
inline constexpr uint32_t kAccessRemoteWrite = 1 << 1;
inline constexpr uint32_t kAccessRemoteRead = 1 << 2;
inline constexpr uint32_t kAccessRemoteAtomic = 1 << 3;

// IBV_SEND_* flags.
inline constexpr uint32_t kSendFence = 1 << 0;
inline constexpr uint32_t kSendSignaled = 1 << 1;
inline constexpr uint32_t kSendSolicited = 1 << 2;
inline constexpr uint32_t kSendInline = 1 << 3;

// IBV_WC_* wc_flags.
inline constexpr uint32_t kWcWithImm = 1 << 1;

// IBV_QP_* attribute masks for ModifyQp.
inline constexpr uint32_t kQpAttrState = 1 << 0;
inline constexpr uint32_t kQpAttrAccessFlags = 1 << 3;
inline constexpr uint32_t kQpAttrAv = 1 << 7;  // destination GID
inline constexpr uint32_t kQpAttrPathMtu = 1 << 8;
inline constexpr uint32_t kQpAttrTimeout = 1 << 9;
inline constexpr uint32_t kQpAttrRetryCnt = 1 << 10;
inline constexpr uint32_t kQpAttrRnrRetry = 1 << 11;
inline constexpr uint32_t kQpAttrRqPsn = 1 << 12;
inline constexpr uint32_t kQpAttrMaxQpRdAtomic = 1 << 13;
inline constexpr uint32_t kQpAttrMinRnrTimer = 1 << 15;
inline constexpr uint32_t kQpAttrSqPsn = 1 << 16;
inline constexpr uint32_t kQpAttrMaxDestRdAtomic = 1 << 17;
inline constexpr uint32_t kQpAttrDestQpn = 1 << 20;

// Device limits (what ibv_query_device would report).
inline constexpr uint32_t kMaxSge = 16;
inline constexpr uint32_t kMaxInlineData = 512;
inline constexpr uint32_t kMaxQpWr = 16384;
inline constexpr uint32_t kMaxRdAtomic = 16;
inline constexpr uint32_t kMaxMsgSize = 1u << 31;
inline constexpr uint32_t kMaxCqe = 1 << 20;

struct Sge {
  uint64_t addr = 0;
  uint32_t length = 0;
  uint32_t lkey = 0;
};

struct SendWr {
  uint64_t wr_id = 0;
  WrOpcode opcode = WrOpcode::kSend;
  uint32_t send_flags = 0;
  std::span<const Sge> sg_list;  // copied at post time (inline data is copied too)
  uint32_t imm_data = 0;         // host order; *_WITH_IMM only
  struct {
    uint64_t remote_addr = 0;
    uint32_t rkey = 0;
  } rdma;
  struct {
    uint64_t remote_addr = 0;
    uint64_t compare_add = 0;  // compare (CMP_AND_SWP) or addend (FETCH_AND_ADD)
    uint64_t swap = 0;
    uint32_t rkey = 0;
  } atomic;
};

struct RecvWr {
  uint64_t wr_id = 0;
  std::span<const Sge> sg_list;  // copied at post time
};

struct WorkCompletion {
  uint64_t wr_id = 0;
  WcStatus status = WcStatus::kSuccess;
  WcOpcode opcode = WcOpcode::kSend;
  uint32_t vendor_err = 0;
  uint32_t byte_len = 0;  // receives: bytes placed (SEND) or written (WRITE_WITH_IMM)
  uint32_t imm_data = 0;  // host order, valid when wc_flags & kWcWithImm
  uint32_t qp_num = 0;
  uint32_t src_qp = 0;
  uint32_t wc_flags = 0;
};

class Device;
class ProtectionDomain;
class QueuePair;
class RcQp;

// A registered range of caller memory. The caller keeps the memory alive and unmoved while
// the region exists. lkey == rkey.
class MemoryRegion {
 public:
  ~MemoryRegion();
  MemoryRegion(const MemoryRegion&) = delete;
  MemoryRegion& operator=(const MemoryRegion&) = delete;

  uint64_t addr() const { return addr_; }
  size_t length() const { return length_; }
  uint32_t lkey() const { return key_; }
  uint32_t rkey() const { return key_; }
  uint32_t access() const { return access_; }
  ProtectionDomain& pd() const { return *pd_; }

  // True if [addr, addr+len) lies inside the region and `need` access bits are granted.
  bool Covers(uint64_t addr, uint64_t len, uint32_t need) const;

 private:
  friend class ProtectionDomain;
  MemoryRegion(ProtectionDomain* pd, uint64_t addr, size_t length, uint32_t access,
               uint32_t key)
      : pd_(pd), addr_(addr), length_(length), access_(access), key_(key) {}
  ProtectionDomain* pd_;
  uint64_t addr_;
  size_t length_;
  uint32_t access_;
  uint32_t key_;
};

class CompletionQueue {
 public:
  ~CompletionQueue();
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  // Moves up to out.size() completions, oldest first, into `out`; returns how many.
  int Poll(std::span<WorkCompletion> out);
  // Completions waiting to be polled.
  size_t size() const { return count_; }
  int capacity() const { return static_cast<int>(capacity_); }
  // Completions lost because the CQ was full (ibverbs raises IBV_EVENT_CQ_ERR; here the
  // counter says it happened and the completions are dropped).
  uint64_t overflows() const { return overflows_; }

  // Like a completion channel: `handler` is posted on the runtime after a completion is
  // added while the CQ is armed; RequestNotify arms it once (ibv_req_notify_cq).
  void SetCompletionHandler(std::function<void()> handler) { handler_ = std::move(handler); }
  void RequestNotify() { armed_ = true; }

  // Engine side: appends a completion.
  void Push(const WorkCompletion& wc);

 private:
  friend class Device;
  friend class RcQp;
  CompletionQueue(Device* device, int cqe);
  Device* device_;
  int users_ = 0;  // QPs using this CQ
  size_t capacity_;
  std::vector<WorkCompletion> ring_;  // grows up to capacity_
  size_t head_ = 0;
  size_t count_ = 0;
  uint64_t overflows_ = 0;
  bool armed_ = false;
  std::function<void()> handler_;
  // Lets a posted notification notice that the CQ was destroyed before it ran.
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);
};

struct QpCap {
  uint32_t max_send_wr = 128;
  uint32_t max_recv_wr = 128;
  uint32_t max_send_sge = 4;
  uint32_t max_recv_sge = 4;
  uint32_t max_inline_data = 64;
};

struct QpInitAttr {
  CompletionQueue* send_cq = nullptr;
  CompletionQueue* recv_cq = nullptr;
  QpCap cap;
  bool sq_sig_all = false;  // every send WR generates a completion
};

struct QpAttr {
  QpState qp_state = QpState::kReset;
  uint32_t qp_access_flags = 0;  // remote access the responder grants (kAccessRemote*)
  Mtu path_mtu = Mtu::k1024;
  uint32_t rq_psn = 0;
  uint32_t sq_psn = 0;
  uint32_t dest_qp_num = 0;
  // The address vector (kQpAttrAv): the peer's GID and the UDP port its fabric node uses
  // (4791 on a real network; the UDP fabric may bind another port).
  Gid dest_gid{};
  uint16_t dest_udp_port = kRoceUdpPort;
  uint8_t timeout = 14;      // local ACK timeout 4.096 us * 2^timeout; 0 = infinite
  uint8_t retry_cnt = 7;     // 0..7 retransmissions on timeout / sequence NAK
  uint8_t rnr_retry = 7;     // 0..7, 7 = infinite
  uint8_t min_rnr_timer = 12;  // IBTA RNR timer code 0..31 (12 = 0.64 ms)
  uint8_t max_rd_atomic = 4;      // outstanding READ/atomic requests as requester
  uint8_t max_dest_rd_atomic = 4;  // responder resources for READ/atomic
};

// Connects an RC QP that is in INIT: ibv_modify_qp to RTR (path_mtu, dest_qp_num, the
// address vector, rq_psn, max_dest_rd_atomic, min_rnr_timer from `attr`), then to RTS
// (sq_psn, timeout, retry_cnt, rnr_retry, max_rd_atomic). These are the two steps and masks
// every connection set-up repeats. Returns 0, or the errno of the step that failed, with
// *failed_at (if given) set to kRtr or kRts.
int ConnectRcQp(QueuePair& qp, QpAttr attr, QpState* failed_at = nullptr);

// The local ACK timeout for an attribute value (4.096 us * 2^timeout); Max() for 0.
core::Duration AckTimeout(uint8_t timeout);
// The IBTA RNR NAK timer table: code 0..31 -> delay (0 = 655.36 ms, 1 = 0.01 ms, ...).
core::Duration RnrTimerDelay(uint8_t code);

// Counters a QP keeps for tests and reports.
struct QpStats {
  uint64_t packets_sent = 0;
  uint64_t packets_received = 0;
  uint64_t retransmitted_packets = 0;
  uint64_t timeouts = 0;
  uint64_t seq_naks_sent = 0;
  uint64_t seq_naks_received = 0;
  uint64_t rnr_naks_sent = 0;
  uint64_t rnr_naks_received = 0;
  uint64_t duplicates_received = 0;
  uint64_t acks_sent = 0;
  uint64_t acks_received = 0;
  uint64_t dropped_packets = 0;  // out of sequence, wrong state, malformed semantics
};

class QueuePair {
 public:
  ~QueuePair();
  QueuePair(const QueuePair&) = delete;
  QueuePair& operator=(const QueuePair&) = delete;

  uint32_t qp_num() const;
  QpState state() const;
  const QpAttr& attr() const;
  const QpStats& stats() const;

  // ibv_modify_qp: applies the attributes selected by `mask`. Returns 0, or EINVAL for an
  // illegal transition, a missing required attribute or an out-of-range value.
  // Required for RESET->INIT: kQpAttrAccessFlags; INIT->RTR: Av, PathMtu, DestQpn, RqPsn,
  // MaxDestRdAtomic, MinRnrTimer; RTR->RTS: SqPsn, Timeout, RetryCnt, RnrRetry,
  // MaxQpRdAtomic. Any state -> RESET or ERR is allowed (ERR flushes outstanding WRs).
  int Modify(const QpAttr& attr, uint32_t mask);

  // ibv_post_send: 0, EINVAL (QP not in RTS/ERR, too many SGEs, inline too long, bad
  // opcode, oversized message) or ENOMEM (send queue full). In ERR the WR is accepted and
  // completes with kWrFlushErr.
  int PostSend(const SendWr& wr);
  // ibv_post_recv: 0, EINVAL (QP in RESET, too many SGEs) or ENOMEM (receive queue full).
  int PostRecv(const RecvWr& wr);

  ProtectionDomain& pd() const;

 private:
  friend class ProtectionDomain;
  friend class Device;
  explicit QueuePair(std::unique_ptr<RcQp> impl);
  std::unique_ptr<RcQp> impl_;
};

class ProtectionDomain {
 public:
  ~ProtectionDomain();
  ProtectionDomain(const ProtectionDomain&) = delete;
  ProtectionDomain& operator=(const ProtectionDomain&) = delete;

  // ibv_reg_mr over [addr, addr+length). Fails (InvalidArgument) on a null address with a
  // non-zero length, unknown access bits, or remote write/atomic without local write
  // (ibverbs' rule).
  core::Result<std::unique_ptr<MemoryRegion>> RegisterMemory(void* addr, size_t length,
                                                             uint32_t access);
  // ibv_create_qp for an RC QP in RESET. Fails on missing CQs or caps beyond device limits.
  core::Result<std::unique_ptr<QueuePair>> CreateQp(const QpInitAttr& init);

  Device& device() const { return *device_; }

 private:
  friend class Device;
  friend class MemoryRegion;
  friend class RcQp;
  explicit ProtectionDomain(Device* device) : device_(device) {}
  Device* device_;
  int live_objects_ = 0;
};

struct DeviceOptions {
  // Most PSNs a requester keeps unacknowledged (rxe: 128), and the packets after which it
  // asks for an ACK (rxe: 64 per ACK request).
  uint32_t max_unacked_psns = 128;
  uint32_t packets_per_ack_req = 64;
  // Planted bug `reuse-psn` (docs/dst.md; only with kEmuPlantedBugsBuilt, else ignored): after
  // a retransmission, the requester starts its next message at the PSN its previous packet
  // used, so the responder takes the new message's first packet for a duplicate.
  bool plant_reuse_psn = false;
};

#ifndef S3RDMA_PLANT_BUGS
#define S3RDMA_PLANT_BUGS 0
#endif
// True when this build compiles the planted-bug hooks in (CMake option S3RDMA_PLANT_BUGS).
inline constexpr bool kEmuPlantedBugsBuilt = S3RDMA_PLANT_BUGS != 0;

// One software NIC port bound to one fabric node address. Receives every packet the fabric
// delivers to that address and dispatches it to the QP its BTH names.
class Device {
 public:
  // Attaches `address` to `fabric` (port 0 on UDP: an ephemeral port, see address()).
  // Runs on fabric.runtime(). The fabric must outlive the device.
  static core::Result<std::unique_ptr<Device>> Open(Fabric& fabric, const NodeAddress& address,
                                                    DeviceOptions options = {});
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  core::Result<std::unique_ptr<ProtectionDomain>> AllocPd();
  // ibv_create_cq with room for `cqe` completions (1..kMaxCqe).
  core::Result<std::unique_ptr<CompletionQueue>> CreateCq(int cqe);

  // The RoCEv2 GID of this port (IPv4-mapped address of the fabric node).
  Gid gid() const { return address().gid(); }
  // The node address peers must use to reach this device (GID + UDP port).
  NodeAddress address() const { return port_->address(); }
  core::Runtime& runtime() const { return runtime_; }
  const DeviceOptions& options() const { return options_; }
  const PortStats& port_stats() const { return port_->stats(); }
  // From the fabric at Open (see Fabric::message_mtu_bytes / phantom_payloads).
  uint32_t message_mtu_bytes() const { return message_mtu_bytes_; }
  bool phantom_payloads() const { return phantom_payloads_; }
  // Packets received that named no live QP or were not RC requests/responses we handle.
  uint64_t unknown_qp_packets() const { return unknown_qp_packets_; }

  // Hands `packet` to the QP it names as if the fabric had delivered it (tests inject
  // hostile or malformed traffic with it).
  void DeliverForTesting(RocePacket packet) { OnPacket(std::move(packet)); }

  // Engine side.
  MemoryRegion* FindMr(uint32_t key) const;
  void SendPacket(const NodeAddress& to, RocePacket&& packet);

 private:
  friend class ProtectionDomain;
  friend class MemoryRegion;
  friend class CompletionQueue;
  friend class QueuePair;
  friend class RcQp;

  Device(core::Runtime& runtime, DeviceOptions options);
  void OnPacket(RocePacket&& packet);
  uint32_t AddMr(MemoryRegion* mr);
  void RemoveMr(uint32_t key);
  uint32_t AddQp(RcQp* qp);
  void RemoveQp(uint32_t qpn);

  core::Runtime& runtime_;
  DeviceOptions options_;
  std::unique_ptr<FabricPort> port_;
  // MR table: index = (key >> 8) - 1; the low 8 bits are a per-registration generation so a
  // stale key of a deregistered region does not match its successor.
  std::vector<MemoryRegion*> mrs_;
  std::vector<uint8_t> mr_gen_;
  std::vector<uint32_t> free_mr_slots_;
  // QP table: QPN = index + kFirstQpn.
  std::vector<RcQp*> qps_;
  std::vector<uint32_t> free_qp_slots_;
  uint64_t unknown_qp_packets_ = 0;
  uint32_t message_mtu_bytes_ = 0;
  bool phantom_payloads_ = false;
  int live_objects_ = 0;
  uint32_t next_mr_gen_ = 0x5a;
};

}  // namespace s3rdma::emu

#endif  // S3RDMA_EMU_VERBS_H_
