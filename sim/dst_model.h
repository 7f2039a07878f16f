// DstModel: what a deterministic-simulation run may legally observe of each key.
//
// Every write of a key (PUT, CompleteMultipartUpload, DELETE) is recorded with the time the
// client sent it (invoke) and the time its outcome was known (end), and how it ended:
//   acked    - 2xx: it took effect between invoke and end, durably;
//   failed   - a 4xx reply, or never sent (node down): it took no effect;
//   unknown  - 5xx, or the node crashed with it in flight: it may or may not have taken
//              effect (between invoke and end), and if it did, a crash may undo it.
//   pending  - no outcome yet: end is +infinity.
// A read over [invoke, end] may return the value of write W (the initial "absent" state is
// an acked delete at time 0) iff
//   W is not failed, W.invoke <= read.end, and no acked write W2 has
//   W.end < W2.invoke and W2.end < read.invoke (W2 certainly replaced W before the read).
// This is a regular register per key that survives crashes: an acknowledged write stays
// visible until a later write replaces it, so losing it in a crash, serving a torn file, or
// a listing with a size no write had, all show up as a read with no candidate.
// Between crashes reads are also linearizable: once a GET has returned the bytes of a write
// W2 (observed at the GET's end), W2 replaces earlier writes for every read sent later, even
// if W2's own outcome is unknown, unless the key's scope crashed in between (a crash may undo
// a write whose outcome was unknown). Keys are "<scope>/<name>"; NoteCrash(scope) records a
// crash of everything in that scope (one storage node).
// Object bytes are generated from (generator id, size) segments, so the model keeps no
// copies and any version can be rebuilt.
#ifndef S3RDMA_SIM_DST_MODEL_H_
#define S3RDMA_SIM_DST_MODEL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/time.h"

namespace s3rdma::sim {

// `size` bytes produced by a generator seeded with `gen`.
struct Segment {
  uint64_t gen = 0;
  uint64_t size = 0;
};
std::string GenerateBytes(uint64_t gen, uint64_t size);
std::string Materialize(const std::vector<Segment>& segments);
// A 64-bit fingerprint of some bytes (FNV-1a folded through Mix64); stable across builds.
uint64_t Fingerprint(std::string_view bytes);

enum class WriteOutcome { kPending, kAcked, kFailed, kUnknown };

class DstModel {
 public:
  using WriteId = uint64_t;

  // A write of `key` sent at `invoke`. A delete has no segments.
  WriteId BeginWrite(const std::string& key, bool is_delete, std::vector<Segment> content,
                     core::Time invoke);
  // REQUIRES: the write is pending; outcome is not kPending.
  void EndWrite(WriteId id, WriteOutcome outcome, core::Time end);
  WriteOutcome outcome(WriteId id) const { return writes_.at(id).outcome; }

  // A crash of every key "<scope>/..." at `when`.
  void NoteCrash(const std::string& scope, core::Time when);

  // The outcome of a read of `key` over [invoke, end]; each returns "" if legal, else a
  // one-line explanation naming the candidates.
  // A whole object: its bytes, or nullopt for NoSuchKey. A legal non-empty result that
  // only one write produced is recorded as observed (see above).
  std::string CheckGet(const std::string& key, core::Time invoke, core::Time end,
                       const std::optional<std::string>& bytes);
  // Bytes [offset, offset + bytes.size()) of an object whose size is `total`.
  std::string CheckRange(const std::string& key, core::Time invoke, core::Time end,
                         uint64_t offset, const std::string& bytes, uint64_t total) const;
  // A range request answered 416: the object was shorter than `offset` (or empty).
  std::string CheckUnsatisfiableRange(const std::string& key, core::Time invoke,
                                      core::Time end, uint64_t offset) const;
  // A listing did (with `size`) or did not show the key.
  std::string CheckListed(const std::string& key, core::Time invoke, core::Time end,
                          std::optional<uint64_t> listed_size) const;

  size_t writes() const { return writes_.size(); }

 private:
  struct Write {
    std::string key;
    bool is_delete = false;
    std::vector<Segment> content;
    uint64_t size = 0;
    uint64_t fingerprint = 0;
    core::Time invoke;
    core::Time end = core::Time::Max();
    WriteOutcome outcome = WriteOutcome::kPending;
    core::Time observed = core::Time::Max();  // earliest end of a read that returned it
  };
  // True if `scope` of `key` crashed in (from, to).
  bool CrashedBetween(const std::string& key, core::Time from, core::Time to) const;
  std::vector<const Write*> Candidates(const std::string& key, core::Time invoke,
                                       core::Time end) const;
  std::string Describe(const std::vector<const Write*>& candidates) const;
  void Observe(const std::vector<const Write*>& candidates, const std::string& bytes,
               uint64_t fingerprint, core::Time end);

  std::vector<Write> writes_;
  std::map<std::string, std::vector<WriteId>> by_key_;
  std::map<std::string, std::vector<core::Time>> crashes_;  // by scope, in time order
};

}  // namespace s3rdma::sim

#endif  // S3RDMA_SIM_DST_MODEL_H_
