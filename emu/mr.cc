// Protection domains and memory regions: key allocation, registration rules, bounds checks.
#include <cstring>

#include "core/check.h"
#include "emu/rc_qp.h"
#include "emu/verbs.h"

namespace s3rdma::emu {

bool MemoryRegion::Covers(uint64_t addr, uint64_t len, uint32_t need) const {
  if ((access_ & need) != need) return false;
  if (addr < addr_) return false;
  uint64_t off = addr - addr_;
  // Written to avoid overflow of addr + len.
  return off <= length_ && len <= length_ - off;
}

MemoryRegion::~MemoryRegion() {
  pd_->device_->RemoveMr(key_);
  --pd_->live_objects_;
}

ProtectionDomain::~ProtectionDomain() {
  // Destroying a PD with live MRs or QPs is EBUSY in ibverbs; here it would leave them
  // dangling, so it is a broken caller invariant.
  S3_CHECK_MSG(live_objects_ == 0, "ProtectionDomain destroyed while MRs/QPs still use it");
  --device_->live_objects_;
}

core::Result<std::unique_ptr<MemoryRegion>> ProtectionDomain::RegisterMemory(void* addr,
                                                                            size_t length,
                                                                            uint32_t access) {
  constexpr uint32_t kKnown =
      kAccessLocalWrite | kAccessRemoteWrite | kAccessRemoteRead | kAccessRemoteAtomic;
  if (access & ~kKnown) return core::Status::InvalidArgument("unknown access flags");
  if ((access & (kAccessRemoteWrite | kAccessRemoteAtomic)) && !(access & kAccessLocalWrite)) {
    // ibv_reg_mr: "If IBV_ACCESS_REMOTE_WRITE or IBV_ACCESS_REMOTE_ATOMIC is set, then
    // IBV_ACCESS_LOCAL_WRITE must be set too."
    return core::Status::InvalidArgument("remote write/atomic access requires local write");
  }
  if (addr == nullptr && length != 0) return core::Status::InvalidArgument("null address");
  uint64_t a = reinterpret_cast<uint64_t>(addr);
  if (length > UINT64_MAX - a) return core::Status::InvalidArgument("region wraps around");
  std::unique_ptr<MemoryRegion> mr(new MemoryRegion(this, a, length, access, 0));
  mr->key_ = device_->AddMr(mr.get());
  ++live_objects_;
  return mr;
}

core::Result<std::unique_ptr<QueuePair>> ProtectionDomain::CreateQp(const QpInitAttr& init) {
  if (init.send_cq == nullptr || init.recv_cq == nullptr) {
    return core::Status::InvalidArgument("a QP needs a send CQ and a receive CQ");
  }
  const QpCap& c = init.cap;
  if (c.max_send_wr == 0 || c.max_send_wr > kMaxQpWr || c.max_recv_wr > kMaxQpWr ||
      c.max_send_sge > kMaxSge || c.max_recv_sge > kMaxSge ||
      c.max_inline_data > kMaxInlineData) {
    return core::Status::InvalidArgument("QP capabilities exceed the device limits");
  }
  auto impl = std::make_unique<RcQp>(this, init);
  ++live_objects_;
  return std::unique_ptr<QueuePair>(new QueuePair(std::move(impl)));
}

uint32_t Device::AddMr(MemoryRegion* mr) {
  uint32_t slot;
  if (!free_mr_slots_.empty()) {
    slot = free_mr_slots_.back();
    free_mr_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(mrs_.size());
    S3_CHECK_MSG(slot < (1u << 24), "too many memory regions");
    mrs_.push_back(nullptr);
    mr_gen_.push_back(0);
  }
  // The low byte varies per registration (like rxe's key byte) so keys are not guessable
  // from the slot alone and a reused slot gets a new key.
  next_mr_gen_ = next_mr_gen_ * 1103515245u + 12345u;
  uint8_t gen = static_cast<uint8_t>(next_mr_gen_ >> 16);
  if (gen == mr_gen_[slot]) ++gen;
  mr_gen_[slot] = gen;
  mrs_[slot] = mr;
  return (slot + 1) << 8 | gen;
}

void Device::RemoveMr(uint32_t key) {
  uint32_t slot = (key >> 8) - 1;
  S3_CHECK(slot < mrs_.size() && mrs_[slot] != nullptr);
  mrs_[slot] = nullptr;
  free_mr_slots_.push_back(slot);
}

MemoryRegion* Device::FindMr(uint32_t key) const {
  uint32_t idx = key >> 8;
  if (idx == 0 || idx > mrs_.size()) return nullptr;
  uint32_t slot = idx - 1;
  if (mrs_[slot] == nullptr || mr_gen_[slot] != static_cast<uint8_t>(key)) return nullptr;
  return mrs_[slot];
}

}  // namespace s3rdma::emu
