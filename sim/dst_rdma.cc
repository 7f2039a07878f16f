// DST's RDMA data path: the RDMA client's control link, guarded buffers (the rdma-memory
// check), RDMA PUT / GET and link flaps. See dst_world.h and docs/dst.md.
#include "sim/dst_world.h"

namespace s3rdma::sim::dst_internal {

void World::LinkSend(Client& c, Node& n, proto::ClientRequest req,
                     proto::S3Transport::Callback done) {
  ++result_.requests;
  if (!n.up || Partitioned(c, n)) {
    rt_->Post([done = std::move(done), up = n.up] {
      done(core::Status::Unavailable(up ? "connect timeout: partitioned"
                                        : "connection refused: node down"));
    });
    return;
  }
  const uint64_t rid = next_rid_++;
  // No client timeout on the RDMA path: the request's buffer must stay registered while
  // the server may still RDMA into it (RdmaClient has no cancel), so it waits.
  inflight_[rid] = InFlight{c.index, n.index,
                            [done = std::move(done)](Reply r, Delivery, bool) {
                              done(std::move(r));
                            },
                            nullptr, false};
  Client* client = &c;
  Node* node = &n;
  n.transports.at(static_cast<size_t>(c.index))->Send(std::move(req), [this, rid, client, node](
                                                                           Reply r) {
    Arrive(rid, client, node, std::move(r));
  });
}

uint64_t World::NewSlot(Client& c, Node& n, size_t region, const std::string& bytes,
                        const std::string& what, size_t back_guard) {
  const uint64_t id = next_slot_++;
  RdmaSlot& s = slots_[id];
  s.region = region;
  s.back_guard = back_guard;
  s.what = what;
  s.client = c.index;
  const size_t total = kGuard + region + back_guard;
  s.mem = std::make_unique<char[]>(total);
  std::fill_n(s.mem.get(), total, kGuardByte);
  std::fill_n(s.mem.get() + kGuard, region, kFillByte);
  std::copy(bytes.begin(), bytes.end(), s.mem.get() + kGuard);
  auto buf = c.rdma.at(static_cast<size_t>(n.index))->RegisterBuffer(s.mem.get(), total);
  S3_CHECK_MSG(buf.ok(), "dst: RegisterBuffer: " + buf.status().ToString());
  s.buffer = std::move(buf).value();
  return id;
}

void World::EndSlot(uint64_t slot, std::optional<uint64_t> written) {
  auto it = slots_.find(slot);
  if (it == slots_.end()) return;
  const RdmaSlot& s = it->second;
  const char* m = s.mem.get();
  auto guard_ok = [](const char* p, size_t n) {
    return std::all_of(p, p + n, [](char x) { return x == kGuardByte; });
  };
  if (!guard_ok(m, kGuard) || !guard_ok(m + kGuard + s.region, s.back_guard)) {
    Fail("rdma-memory", s.what + ": registered bytes outside the token's " +
                            std::to_string(s.region) + " B (the guards around it) were " +
                            "overwritten");
  }
  if (written) {
    const uint64_t w = std::min<uint64_t>(*written, s.region);
    if (!std::all_of(m + kGuard + w, m + kGuard + s.region,
                     [](char x) { return x == kFillByte; })) {
      Fail("rdma-memory", s.what + ": the buffer changed beyond the " + std::to_string(*written) +
                              " bytes the reply says were transferred");
    }
  }
  slots_.erase(it);
}

bool World::CheckRdmaAuth(const Client& c, const Node& n, const core::Status& st,
                          const std::string& what) {
  const bool skew_error = !st.ok() && proto::IsS3Error(st, proto::S3Err::kRequestTimeTooSkewed);
  if (Skewed(c, n)) {
    if (skew_error) ++result_.skew_rejections;
    if (st.ok()) {
      Fail("clock-skew", what + " from a client " + std::to_string(c.skew_seconds - n.skew_seconds) +
                             " s off the server's clock succeeded");
    }
    return false;
  }
  if (skew_error) {
    Fail("clock-skew", what + " inside the 15-minute window was refused as skewed");
    return false;
  }
  return true;
}

// The fabric only loses packets the RC engine retransmits, flaps are far shorter than the
// server QP's retry budget (7 x 67 ms) and a crash cuts the request (Unavailable): an
// answered RDMATransferFailed therefore means the server itself broke the transfer.
void World::CheckRdmaFailure(const Client& c, const Node& n, const core::Status& st,
                             const std::string& what, uint64_t resets_at_start) {
  // A client that timed out a request reset that request's QP itself: the transfers in
  // flight on it then fail (and are retried once, possibly onto a QP the next timeout
  // resets). So a failure is excused only if this client reset a connection to this node
  // while the request was in flight; the RdmaClient does not say which QP a request used,
  // so any of the pair's connections counts. Requests started after the reset are held to
  // the invariant again.
  const uint64_t resets = RdmaResets(c, n);
  const bool reset_meanwhile = resets > resets_at_start;
  // Counted: the requests an "any reset excuses the pair for good" rule would skip.
  if (resets > 0 && !reset_meanwhile) ++result_.rdma_checked_after_reset;
  // The client reports the server's error as "<code>: <message>" (its Status code is the
  // HTTP class), so the code is matched in the message.
  if (!st.ok() && (proto::IsRdmaError(st, proto::kErrRdmaTransferFailed) ||
                   st.message().rfind(proto::kErrRdmaTransferFailed, 0) == 0)) {
    if (reset_meanwhile) {
      ++result_.rdma_excused_failures;
      return;
    }
    Fail("rdma-transfer", what + ": " + st.ToString() +
                              " (no fault of this world can exhaust the RC retries)");
  }
}

void World::DoRdmaPut(Client& c, Node& n, const std::string& key, Segment seg,
                      std::function<void()> finish) {
  const std::string what = "RDMA PUT node" + std::to_string(n.index) + "/" + key + " (" +
                           std::to_string(seg.size) + " B)";
  const uint64_t slot = NewSlot(c, n, seg.size, GenerateBytes(seg.gen, seg.size), what);
  const uint64_t resets = RdmaResets(c, n);
  const DstModel::WriteId id = model_.BeginWrite(ModelKey(n, key), false, {seg}, rt_->Now());
  Client* client = &c;
  Node* node = &n;
  c.rdma.at(static_cast<size_t>(n.index))
      ->Put(kBucket, key, slots_.at(slot).buffer, kGuard, seg.size, {},
            [this, client, node, slot, id, what, resets,
             finish](core::Result<proto::RdmaResult> r) {
              EndSlot(slot, std::nullopt);
              NoteRdma(r.ok());
              Trace("client" + std::to_string(client->index) + " " + what + " -> " +
                    (r.ok() ? std::to_string(r->status) : r.status().ToString()));
              const core::Status st = r.ok() ? core::Status::Ok() : r.status();
              if (CheckRdmaAuth(*client, *node, st, what)) {
                CheckRdmaFailure(*client, *node, st, what, resets);
              }
              if (RdmaTimedOut(st)) {
                // The server may store it at any later time: in flight forever.
                finish();
                return;
              }
              // 2xx acked; a 4xx S3 error refused it; anything else (cut, 5xx) is unknown.
              WriteOutcome outcome = WriteOutcome::kUnknown;
              if (r.ok()) {
                outcome = WriteOutcome::kAcked;
                ++result_.acked_writes;
              } else {
                const int http = proto::ToS3Error(r.status()).http_status;
                if (http >= 400 && http < 500 &&
                    r.status().code() != core::StatusCode::kUnavailable) {
                  outcome = WriteOutcome::kFailed;
                } else {
                  ++result_.unknown_writes;
                }
              }
              model_.EndWrite(id, outcome, rt_->Now());
              finish();
            });
}

void World::DoRdmaGet(Client& c, Node& n, const std::string& key, bool ranged,
                      std::function<void()> finish) {
  std::optional<proto::ByteRange> range;
  uint64_t offset = 0;
  uint64_t len = 0;
  if (ranged) {
    offset = c.rng.Below(20000);
    len = 1 + c.rng.Below(9000);
    range = proto::ByteRange{offset, offset + len - 1};
  }
  // The token asks for the bytes wanted: a range's length, or a buffer every object fits;
  // sometimes a smaller one (RDMABufferTooSmall is then legal).
  const bool small = c.rdma_rng.Below(100) < 15;
  const size_t region = small ? 1 + c.rdma_rng.Below(8192) : ranged ? len : kGetBufferBytes;
  const std::string mkey = ModelKey(n, key);
  const std::string what = std::string(ranged ? "RDMA RANGE GET" : "RDMA GET") + " node" +
                           std::to_string(n.index) + "/" + key + " into " +
                           std::to_string(region) + " B";
  const uint64_t slot = NewSlot(c, n, region, "", what, kGetBackGuard);
  const Time invoke = rt_->Now();
  const uint64_t resets = RdmaResets(c, n);
  Client* client = &c;
  Node* node = &n;
  c.rdma.at(static_cast<size_t>(n.index))
      ->Get(kBucket, key, range, slots_.at(slot).buffer, kGuard, region,
            [this, client, node, slot, invoke, mkey, what, offset, ranged, resets, finish](
                core::Result<proto::RdmaResult> r) {
              Trace("client" + std::to_string(client->index) + " " + what + " -> " +
                    (r.ok() ? std::to_string(r->status) + " " + std::to_string(r->bytes) + " B"
                            : r.status().ToString()));
              const RdmaSlot& s = slots_.at(slot);
              Reply reply = core::Status::Unavailable("placeholder");
              if (!r.ok()) reply = r.status();
              if (r.ok()) {
                proto::ClientResponse resp;
                resp.status = r->status;
                resp.headers = r->headers;
                resp.body.assign(s.mem.get() + kGuard, std::min<uint64_t>(r->bytes, s.region));
                reply = std::move(resp);
                result_.history_hash = core::Mix64(result_.history_hash ^ Fingerprint(reply->body));
              }
              // A refused GET (4xx: no key, bad range, buffer too small) wrote nothing; a
              // served one wrote exactly its bytes.
              std::optional<uint64_t> written;
              if (r.ok()) written = r->bytes;
              const core::Status st = r.ok() ? core::Status::Ok() : r.status();
              const int http = r.ok() ? 200 : proto::ToS3Error(st).http_status;
              if (!r.ok() && http >= 400 && http < 500 && st.code() != core::StatusCode::kUnavailable) {
                written = 0;
              }
              if (CheckRdmaAuth(*client, *node, st, what)) {
                CheckRdmaFailure(*client, *node, st, what, resets);
                CheckGetReply(what, mkey, invoke, offset, ranged, reply);
              }
              RdmaTimedOut(st);
              EndSlot(slot, written);
              NoteRdma(r.ok());
              finish();
            });
}

void World::ScheduleFlap() {
  const auto delay = Duration::Microseconds(static_cast<int64_t>(rdma_rng_.Exponential(25000.0)));
  flap_timer_ = rt_->After(delay, [this] {
    if (quiet_) return;
    const int c = static_cast<int>(rdma_rng_.Below(clients_.size() - 1));
    const int n = static_cast<int>(rdma_rng_.Below(nodes_.size()));
    const auto span = Duration::Microseconds(static_cast<int64_t>(100 + rdma_rng_.Below(20000)));
    flaps_->Cut(clients_[static_cast<size_t>(c)].ip, NodeIp(n), rt_->Now() + span);
    Trace("FLAP client" + std::to_string(c) + " <-> node" + std::to_string(n) + " link down for " +
          std::to_string(span.us()) + " us");
    ScheduleFlap();
  });
}

}  // namespace s3rdma::sim::dst_internal
