// Payload: a read-only, reference-counted view of packet bytes.
//
// Packets are the hot path (a 1 MiB RDMA WRITE at MTU 4096 is 256 packets), so a payload is
// one pooled block plus an offset and a length: copying a Payload shares the block (an
// atomic increment), never the bytes. Blocks up to kPooledCapacity bytes come from a
// thread-local free list, so steady traffic does no heap allocation and reuses blocks that
// are still in cache. Larger payloads get a block of their own.
//
// Ownership and threading: a Payload owns a reference to its block; the block is freed (or
// returned to the pool of the thread that drops the last reference) when the last Payload
// referring to it goes away. Payloads may be passed between threads; the bytes are
// immutable once shared. mutable_data() is only for the producer, before the first copy.
#ifndef S3RDMA_EMU_PAYLOAD_H_
#define S3RDMA_EMU_PAYLOAD_H_

#include <cstddef>
#include <cstdint>
#include <span>

namespace s3rdma::emu {

class Payload {
 public:
  // Largest block served from the pool: a 4096-byte MTU payload plus every RoCEv2 header,
  // pad and ICRC, so one pooled block also holds a whole received datagram.
  static constexpr size_t kPooledCapacity = 4096 + 256;

  Payload() = default;  // empty
  Payload(const Payload& other);
  Payload& operator=(const Payload& other);
  Payload(Payload&& other) noexcept;
  Payload& operator=(Payload&& other) noexcept;
  ~Payload();

  // A new payload holding a copy of `bytes`.
  static Payload CopyOf(std::span<const uint8_t> bytes);
  // A new payload of `size` uninitialised bytes, to be filled through mutable_data().
  static Payload Allocate(size_t size);
  // A phantom payload: it has a size and no bytes (data() is null), for simulations whose
  // fabric carries sizes only (Fabric::phantom_payloads()). Never encoded, copied or
  // checksummed; Slice() of a phantom payload is phantom.
  static Payload Phantom(size_t size) { return Payload(nullptr, nullptr, size); }

  // The sub-range [offset, offset + size) sharing this payload's block.
  // REQUIRES: offset + size <= this->size().
  Payload Slice(size_t offset, size_t size) const;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool phantom() const { return data_ == nullptr && size_ > 0; }
  std::span<const uint8_t> span() const { return {data_, size_}; }

  // Writable bytes. REQUIRES: this Payload is the only reference to its block (checked).
  uint8_t* mutable_data();
  // True if no other Payload shares this block.
  bool unique() const;

  // Pool statistics of the calling thread (for tests and benchmarks).
  struct PoolStats {
    uint64_t allocated_blocks = 0;  // blocks obtained from the heap
    uint64_t reused_blocks = 0;     // blocks served from the free list
    uint64_t cached_blocks = 0;     // blocks currently on the free list
  };
  static PoolStats ThreadPoolStats();

 private:
  struct Block;
  Payload(Block* block, const uint8_t* data, size_t size) : block_(block), data_(data), size_(size) {}
  void Release();

  Block* block_ = nullptr;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace s3rdma::emu

#endif  // S3RDMA_EMU_PAYLOAD_H_
