#include "emu/payload.h"

#include <atomic>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "core/check.h"

namespace s3rdma::emu {

// Block header followed by `capacity` bytes. Blocks of exactly kPooledCapacity go back to
// a thread-local free list; others are freed.
struct Payload::Block {
  std::atomic<uint32_t> refs{1};
  size_t capacity = 0;
  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(this) + kHeaderBytes; }
  static constexpr size_t kHeaderBytes = 64;  // keeps bytes() cache-line aligned
};

namespace {

constexpr size_t kMaxCachedBlocks = 2048;  // ~9 MiB per thread at most
constexpr std::align_val_t kAlign{64};

// Set once the calling thread's pool is destroyed (thread exit, static destruction):
// trivially destructible, so it stays readable afterwards, and later releases just free.
thread_local bool t_pool_destroyed = false;

struct ThreadPool {
  std::vector<void*> free;
  uint64_t allocated = 0;
  uint64_t reused = 0;
  ~ThreadPool() {
    t_pool_destroyed = true;
    for (void* p : free) ::operator delete(p, kAlign);
    free.clear();
  }
};

// nullptr after the pool is gone.
ThreadPool* Pool() {
  if (t_pool_destroyed) return nullptr;
  thread_local ThreadPool pool;
  return &pool;
}

}  // namespace

static_assert(sizeof(std::atomic<uint32_t>) + sizeof(size_t) <= 64);

Payload Payload::Allocate(size_t size) {
  if (size == 0) return Payload();
  const size_t capacity = size <= kPooledCapacity ? kPooledCapacity : size;
  void* mem = nullptr;
  ThreadPool* pool = Pool();
  if (pool != nullptr && capacity == kPooledCapacity && !pool->free.empty()) {
    mem = pool->free.back();
    pool->free.pop_back();
    ++pool->reused;
  } else {
    mem = ::operator new(Block::kHeaderBytes + capacity, kAlign);
    if (pool != nullptr) ++pool->allocated;
  }
  Block* block = new (mem) Block();
  block->capacity = capacity;
  return Payload(block, block->bytes(), size);
}

Payload Payload::CopyOf(std::span<const uint8_t> bytes) {
  Payload p = Allocate(bytes.size());
  if (!bytes.empty()) std::memcpy(p.block_->bytes(), bytes.data(), bytes.size());
  return p;
}

Payload::Payload(const Payload& other) : block_(other.block_), data_(other.data_), size_(other.size_) {
  if (block_ != nullptr) block_->refs.fetch_add(1, std::memory_order_relaxed);
}

Payload& Payload::operator=(const Payload& other) {
  if (this != &other) {
    if (other.block_ != nullptr) other.block_->refs.fetch_add(1, std::memory_order_relaxed);
    Release();
    block_ = other.block_;
    data_ = other.data_;
    size_ = other.size_;
  }
  return *this;
}

Payload::Payload(Payload&& other) noexcept
    : block_(std::exchange(other.block_, nullptr)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

Payload& Payload::operator=(Payload&& other) noexcept {
  if (this != &other) {
    Release();
    block_ = std::exchange(other.block_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

Payload::~Payload() { Release(); }

void Payload::Release() {
  Block* block = std::exchange(block_, nullptr);
  data_ = nullptr;
  size_ = 0;
  if (block == nullptr) return;
  // The sole owner needs no atomic read-modify-write: nobody else can take a reference.
  if (block->refs.load(std::memory_order_acquire) != 1 &&
      block->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) {
    return;
  }
  const size_t capacity = block->capacity;
  block->~Block();
  ThreadPool* pool = Pool();
  if (pool != nullptr && capacity == kPooledCapacity && pool->free.size() < kMaxCachedBlocks) {
    pool->free.push_back(block);
  } else {
    ::operator delete(block, kAlign);
  }
}

Payload Payload::Slice(size_t offset, size_t size) const {
  S3_CHECK_MSG(offset <= size_ && size <= size_ - offset, "Payload::Slice out of range");
  if (size == 0) return Payload();
  Payload p(*this);
  p.data_ = phantom() ? nullptr : data_ + offset;
  p.size_ = size;
  return p;
}

bool Payload::unique() const {
  return block_ == nullptr || block_->refs.load(std::memory_order_acquire) == 1;
}

uint8_t* Payload::mutable_data() {
  S3_CHECK_MSG(unique(), "Payload::mutable_data on a shared payload");
  return const_cast<uint8_t*>(data_);
}

Payload::PoolStats Payload::ThreadPoolStats() {
  ThreadPool* pool = Pool();
  if (pool == nullptr) return {};
  return {pool->allocated, pool->reused, pool->free.size()};
}

}  // namespace s3rdma::emu
