// Completion queues: a ring of completions plus a one-shot notification. The ring grows on
// demand up to the CQ's size, so a large, mostly idle CQ (a server's, sized for its worst
// case) costs little memory: a simulation creates thousands of them.
#include <algorithm>

#include "core/check.h"
#include "emu/verbs.h"

namespace s3rdma::emu {

CompletionQueue::CompletionQueue(Device* device, int cqe)
    : device_(device), capacity_(static_cast<size_t>(cqe)), ring_(std::min<size_t>(capacity_, 64)) {
  ++device_->live_objects_;
}

CompletionQueue::~CompletionQueue() {
  S3_CHECK_MSG(users_ == 0, "CompletionQueue destroyed while a QP still uses it");
  --device_->live_objects_;
}

int CompletionQueue::Poll(std::span<WorkCompletion> out) {
  size_t n = std::min(out.size(), count_);
  for (size_t i = 0; i < n; ++i) {
    out[i] = ring_[head_];
    head_ = head_ + 1 == ring_.size() ? 0 : head_ + 1;
  }
  count_ -= n;
  return static_cast<int>(n);
}

void CompletionQueue::Push(const WorkCompletion& wc) {
  if (count_ == ring_.size() && ring_.size() < capacity_) {
    std::vector<WorkCompletion> bigger(std::min(capacity_, ring_.size() * 2));
    for (size_t i = 0; i < count_; ++i) bigger[i] = ring_[(head_ + i) % ring_.size()];
    ring_ = std::move(bigger);
    head_ = 0;
  }
  if (count_ == ring_.size()) {
    // A real CQ overflow is an asynchronous error the application must avoid by sizing the
    // CQ; we count it rather than abort so a misbehaving program can be diagnosed.
    ++overflows_;
    return;
  }
  size_t tail = head_ + count_;
  if (tail >= ring_.size()) tail -= ring_.size();
  ring_[tail] = wc;
  ++count_;
  if (armed_ && handler_) {
    armed_ = false;
    // Posted, not called: the engine is in the middle of processing a packet, and the
    // handler may post new work requests.
    device_->runtime().Post([this, alive = std::weak_ptr<char>(alive_)] {
      if (!alive.expired() && handler_) handler_();
    });
  }
}

}  // namespace s3rdma::emu
