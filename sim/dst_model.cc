#include "sim/dst_model.h"

#include <cstdio>
#include <cstring>

#include "core/check.h"
#include "core/rng.h"

namespace s3rdma::sim {

std::string GenerateBytes(uint64_t gen, uint64_t size) {
  std::string out(size, '\0');
  core::Rng rng(core::Mix64(gen ^ 0x6473745f62797465ULL));
  for (uint64_t i = 0; i < size; i += 8) {
    const uint64_t v = rng.NextU64();
    std::memcpy(out.data() + i, &v, std::min<uint64_t>(8, size - i));
  }
  return out;
}

std::string Materialize(const std::vector<Segment>& segments) {
  std::string out;
  for (const Segment& s : segments) out += GenerateBytes(s.gen, s.size);
  return out;
}

uint64_t Fingerprint(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return core::Mix64(h ^ bytes.size());
}

DstModel::WriteId DstModel::BeginWrite(const std::string& key, bool is_delete,
                                       std::vector<Segment> content, core::Time invoke) {
  Write w;
  w.key = key;
  w.is_delete = is_delete;
  for (const Segment& s : content) w.size += s.size;
  if (!is_delete) w.fingerprint = Fingerprint(Materialize(content));
  w.content = std::move(content);
  w.invoke = invoke;
  const WriteId id = writes_.size();
  writes_.push_back(std::move(w));
  by_key_[key].push_back(id);
  return id;
}

void DstModel::EndWrite(WriteId id, WriteOutcome outcome, core::Time end) {
  Write& w = writes_.at(id);
  S3_CHECK_MSG(w.outcome == WriteOutcome::kPending, "write ended twice");
  S3_CHECK(outcome != WriteOutcome::kPending);
  w.outcome = outcome;
  w.end = end;
}

std::vector<const DstModel::Write*> DstModel::Candidates(const std::string& key,
                                                         core::Time invoke,
                                                         core::Time end) const {
  // The initial state: absent, as if deleted (and acknowledged) at time zero.
  static const Write kAbsent = [] {
    Write w;
    w.is_delete = true;
    w.invoke = core::Time::Zero();
    w.end = core::Time::Zero();
    w.outcome = WriteOutcome::kAcked;
    return w;
  }();
  std::vector<const Write*> all{&kAbsent};
  if (auto it = by_key_.find(key); it != by_key_.end()) {
    for (WriteId id : it->second) all.push_back(&writes_[id]);
  }
  std::vector<const Write*> out;
  for (const Write* w : all) {
    if (w->outcome == WriteOutcome::kFailed || w->invoke > end) continue;
    bool replaced = false;
    for (const Write* w2 : all) {
      if (w2->outcome == WriteOutcome::kAcked && w->end < w2->invoke && w2->end < invoke) {
        replaced = true;
        break;
      }
    }
    if (!replaced) out.push_back(w);
  }
  return out;
}

std::string DstModel::Describe(const std::vector<const Write*>& candidates) const {
  std::string out = "legal:";
  auto name = [](WriteOutcome o) {
    switch (o) {
      case WriteOutcome::kPending: return "pending";
      case WriteOutcome::kAcked: return "acked";
      case WriteOutcome::kFailed: return "failed";
      case WriteOutcome::kUnknown: return "unknown";
    }
    return "?";
  };
  for (const Write* w : candidates) {
    char buf[160];
    if (w->is_delete) {
      std::snprintf(buf, sizeof(buf), " [absent %s @%.6fs]", name(w->outcome),
                    w->invoke.ToSeconds());
    } else {
      std::snprintf(buf, sizeof(buf), " [%llu B %s @%.6fs..%s]",
                    static_cast<unsigned long long>(w->size), name(w->outcome),
                    w->invoke.ToSeconds(),
                    w->end == core::Time::Max() ? "" :
                        std::to_string(w->end.ToSeconds()).c_str());
    }
    out += buf;
  }
  return out;
}

std::string DstModel::CheckGet(const std::string& key, core::Time invoke, core::Time end,
                               const std::optional<std::string>& bytes) const {
  const auto candidates = Candidates(key, invoke, end);
  const uint64_t fp = bytes ? Fingerprint(*bytes) : 0;
  for (const Write* w : candidates) {
    if (!bytes && w->is_delete) return "";
    if (bytes && !w->is_delete && w->size == bytes->size() && w->fingerprint == fp) return "";
  }
  if (!bytes) return "NoSuchKey, but the key cannot be absent; " + Describe(candidates);
  for (const Write* w : candidates) {
    if (!w->is_delete && w->size == bytes->size()) {
      return std::to_string(bytes->size()) + " bytes that match no write of the key " +
             "(torn or mixed object); " + Describe(candidates);
    }
  }
  return std::to_string(bytes->size()) + " bytes, a version that is not legal now " +
         "(lost or stale write); " + Describe(candidates);
}

std::string DstModel::CheckRange(const std::string& key, core::Time invoke, core::Time end,
                                 uint64_t offset, const std::string& bytes,
                                 uint64_t total) const {
  const auto candidates = Candidates(key, invoke, end);
  for (const Write* w : candidates) {
    if (w->is_delete || w->size != total || offset + bytes.size() > w->size) continue;
    if (Materialize(w->content).compare(offset, bytes.size(), bytes) == 0) return "";
  }
  return "range of " + std::to_string(bytes.size()) + " bytes at " + std::to_string(offset) +
         " of a " + std::to_string(total) + "-byte object matches no legal version; " +
         Describe(candidates);
}

std::string DstModel::CheckUnsatisfiableRange(const std::string& key, core::Time invoke,
                                              core::Time end, uint64_t offset) const {
  const auto candidates = Candidates(key, invoke, end);
  for (const Write* w : candidates) {
    if (!w->is_delete && w->size <= offset) return "";
  }
  return "InvalidRange at offset " + std::to_string(offset) +
         " but no legal version is that short; " + Describe(candidates);
}

std::string DstModel::CheckListed(const std::string& key, core::Time invoke, core::Time end,
                                  std::optional<uint64_t> listed_size) const {
  const auto candidates = Candidates(key, invoke, end);
  for (const Write* w : candidates) {
    if (!listed_size && w->is_delete) return "";
    if (listed_size && !w->is_delete && w->size == *listed_size) return "";
  }
  if (!listed_size) return "not listed, but the key cannot be absent; " + Describe(candidates);
  return "listed with " + std::to_string(*listed_size) +
         " bytes, a size no legal version has; " + Describe(candidates);
}

}  // namespace s3rdma::sim
