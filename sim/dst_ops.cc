// DST client operations over HTTP: PUT, GET / ranged GET, DELETE, LIST, multipart, and the
// final reads (the checks against DstModel). See dst_world.h.
#include "sim/dst_world.h"

#include <cstdlib>

namespace s3rdma::sim::dst_internal {

void World::DoPut(Client& c, Node& n, const std::string& key, std::function<void()> finish,
                  std::optional<Segment> retry_of) {
  const Segment seg = retry_of ? *retry_of : Segment{next_gen_++, PickSize(c.rng)};
  if (!retry_of && seg.size > 0 && UseRdma(c)) {
    DoRdmaPut(c, n, key, seg, std::move(finish));
    return;
  }
  proto::ClientRequest req;
  req.method = "PUT";
  req.bucket = kBucket;
  req.key = key;
  req.body = GenerateBytes(seg.gen, seg.size);
  const DstModel::WriteId id = model_.BeginWrite(ModelKey(n, key), false, {seg}, rt_->Now());
  const std::string what = "PUT node" + std::to_string(n.index) + "/" + key + " (" +
                           std::to_string(seg.size) + " B)" + (retry_of ? " retry" : "");
  Client* client = &c;
  Node* node = &n;
  Send(
      c, n, std::move(req), what,
      [this, id, finish, client, node, key, seg, retried = retry_of.has_value()](
          Reply r, Delivery how, bool) {
        if (how == Delivery::kTimedOut) {
          // The write stays in flight in the model until the server's outcome arrives.
          if (!retried) {
            DoPut(*client, *node, key, finish, seg);
          } else {
            finish();
          }
          return;
        }
        EndWrite(id, r, how, false);
        finish();
      },
      [this, id](Reply, Delivery) { EndLateWrite(id); });
}

void World::DoDelete(Client& c, Node& n, const std::string& key, std::function<void()> finish,
                     int attempt) {
  proto::ClientRequest req;
  req.method = "DELETE";
  req.bucket = kBucket;
  req.key = key;
  const DstModel::WriteId id = model_.BeginWrite(ModelKey(n, key), true, {}, rt_->Now());
  const std::string what =
      "DELETE node" + std::to_string(n.index) + "/" + key + (attempt > 0 ? " retry" : "");
  Client* client = &c;
  Node* node = &n;
  Send(
      c, n, std::move(req), what,
      [this, id, finish, client, node, key, attempt](Reply r, Delivery how, bool) {
        if (how == Delivery::kTimedOut) {
          if (attempt == 0) {
            DoDelete(*client, *node, key, finish, 1);
          } else {
            finish();
          }
          return;
        }
        EndWrite(id, r, how, true);
        finish();
      },
      [this, id](Reply, Delivery) { EndLateWrite(id); });
}

void World::DoGet(Client& c, Node& n, const std::string& key, bool ranged,
                  std::function<void()> finish, int attempt) {
  proto::ClientRequest req;
  req.method = "GET";
  req.bucket = kBucket;
  req.key = key;
  uint64_t offset = 0;
  if (ranged) {
    offset = c.rng.Below(20000);
    const uint64_t len = 1 + c.rng.Below(9000);
    req.headers.emplace_back("range", "bytes=" + std::to_string(offset) + "-" +
                                          std::to_string(offset + len - 1));
  }
  const Time invoke = rt_->Now();
  const std::string mkey = ModelKey(n, key);
  const std::string what = std::string(ranged ? "RANGE GET" : "GET") + " node" +
                           std::to_string(n.index) + "/" + key + (attempt > 0 ? " retry" : "");
  Client* client = &c;
  Node* node = &n;
  Send(c, n, std::move(req), what,
       [this, invoke, mkey, what, offset, ranged, finish, client, node, key, attempt](
           Reply r, Delivery how, bool usable) {
         if (how == Delivery::kTimedOut && attempt == 0) {
           DoGet(*client, *node, key, ranged, finish, 1);
           return;
         }
         if (usable) CheckGetReply(what, mkey, invoke, offset, ranged, r);
         finish();
       });
}

void World::CheckGetReply(const std::string& what, const std::string& mkey, Time invoke,
                        uint64_t offset, bool ranged, const Reply& r) {
  const Time end = rt_->Now();
  if (r.ok() && r->status == 206) {
    const std::string* cr = r->Header("content-range");
    const size_t slash = cr ? cr->rfind('/') : std::string::npos;
    if (slash == std::string::npos) {
      Fail("read", what + ": 206 without a Content-Range total");
    } else {
      const uint64_t total = std::strtoull(cr->c_str() + slash + 1, nullptr, 10);
      CheckRead(what, model_.CheckRange(mkey, invoke, end, offset, r->body, total));
    }
  } else if (r.ok()) {
    CheckRead(what, model_.CheckGet(mkey, invoke, end, r->body));
    const std::string* etag = r->Header("etag");
    if (etag == nullptr) {
      Fail("read", what + ": no ETag");
    } else if (StripQuotes(*etag).find('-') == std::string::npos &&
               StripQuotes(*etag) != proto::HexEncode(proto::Md5(r->body))) {
      Fail("read", what + ": served " + std::to_string(r->body.size()) +
                       " bytes whose MD5 is not their ETag " + *etag);
    }
  } else if (proto::IsS3Error(r.status(), proto::S3Err::kNoSuchKey)) {
    CheckRead(what, model_.CheckGet(mkey, invoke, end, std::nullopt));
  } else if (ranged && proto::IsS3Error(r.status(), proto::S3Err::kInvalidRange)) {
    CheckRead(what, model_.CheckUnsatisfiableRange(mkey, invoke, end, offset));
  }
}


void World::DoList(Client& c, Node& n, std::function<void()> finish) {
  proto::ClientRequest req;
  req.method = "GET";
  req.bucket = kBucket;
  const uint64_t p = c.rng.Below(3);
  const std::string prefix = p == 0 ? "" : p == 1 ? "a/" : "b/";
  req.query = {{"list-type", "2"}, {"prefix", prefix}};
  const Time invoke = rt_->Now();
  const std::string what = "LIST node" + std::to_string(n.index) + " prefix '" + prefix + "'";
  Node* node = &n;
  Send(c, n, std::move(req), what, [this, node, invoke, prefix, what, finish](
                                       Reply r, Delivery, bool usable) {
    if (usable && r.ok()) {
      std::map<std::string, uint64_t> listed;
      const std::string& xml = r->body;
      size_t pos = 0;
      while ((pos = xml.find("<Contents>", pos)) != std::string::npos) {
        const size_t end = xml.find("</Contents>", pos);
        if (end == std::string::npos) break;
        const std::string entry = xml.substr(pos, end - pos);
        listed[proto::XmlTag(entry, "Key")] =
            std::strtoull(proto::XmlTag(entry, "Size").c_str(), nullptr, 10);
        pos = end;
      }
      for (const auto& [k, size] : listed) {
        if (std::find(keys_.begin(), keys_.end(), k) == keys_.end() ||
            k.compare(0, prefix.size(), prefix) != 0) {
          Fail("list", what + ": lists '" + k + "', a key never written under the prefix");
        }
      }
      for (const std::string& k : keys_) {
        if (k.compare(0, prefix.size(), prefix) != 0) continue;
        auto it = listed.find(k);
        CheckRead(what + " key " + k,
                  model_.CheckListed(ModelKey(*node, k), invoke, rt_->Now(),
                                     it == listed.end() ? std::nullopt
                                                        : std::optional<uint64_t>(it->second)));
      }
    }
    finish();
  });
}

void World::DoMultipart(Client& c, Node& n, const std::string& key,
                        std::function<void()> finish) {
  struct Upload {
    std::string id;
    int parts = 0;
    std::vector<Segment> segments;
    std::string xml = "<CompleteMultipartUpload>";
    bool abort = false;
  };
  auto up = std::make_shared<Upload>();
  up->parts = 1 + static_cast<int>(c.rng.Below(3));
  up->abort = c.rng.Below(100) < 10;
  for (int i = 0; i < up->parts; ++i) {
    const bool last = i + 1 == up->parts;
    up->segments.push_back(
        {next_gen_++, last ? c.rng.Below(3000) : kMinPartBytes + c.rng.Below(3000)});
  }
  const std::string what = "MULTIPART node" + std::to_string(n.index) + "/" + key;
  Node* node = &n;
  // Each step continues from the reply of the previous one. The chain is owned by the
  // world (chains_), the callbacks hold it weakly: no reference cycle, whatever happens.
  auto owned = std::make_shared<std::function<void(int)>>();
  chains_.push_back(owned);
  std::weak_ptr<std::function<void(int)>> step = owned;
  auto abort = [this, &c, node, key, up, what, finish] {
    proto::ClientRequest req;
    req.method = "DELETE";
    req.bucket = kBucket;
    req.key = key;
    req.query = {{"uploadId", up->id}};
    Send(c, *node, std::move(req), what + " abort", [finish](Reply, Delivery, bool) {
      finish();
    });
  };
  *owned = [this, &c, node, key, up, what, finish, step, abort](int part) {
    proto::ClientRequest req;
    req.bucket = kBucket;
    req.key = key;
    if (part <= up->parts) {
      const Segment& seg = up->segments[static_cast<size_t>(part - 1)];
      auto next_part = [up, part, step, abort](bool usable, const std::string* etag) {
        if (!usable || etag == nullptr) {
          abort();
          return;
        }
        up->xml += "<Part><PartNumber>" + std::to_string(part) + "</PartNumber><ETag>" +
                   *etag + "</ETag></Part>";
        if (auto next = step.lock()) (*next)(part + 1);
      };
      if (seg.size > 0 && UseRdma(c)) {
        const std::string pwhat = "RDMA " + what + " part " + std::to_string(part);
        const uint64_t slot = NewSlot(c, *node, seg.size, GenerateBytes(seg.gen, seg.size), pwhat);
        const uint64_t resets = RdmaResets(c, *node);
        c.rdma.at(static_cast<size_t>(node->index))
            ->UploadPart(kBucket, key, up->id, part, slots_.at(slot).buffer, kGuard, seg.size,
                         [this, &c, node, slot, pwhat, resets, next_part](
                             core::Result<proto::RdmaResult> r) {
                           EndSlot(slot, std::nullopt);
                           NoteRdma(r.ok());
                           Trace("client" + std::to_string(c.index) + " " + pwhat + " -> " +
                                 (r.ok() ? std::to_string(r->status) : r.status().ToString()));
                           const core::Status st = r.ok() ? core::Status::Ok() : r.status();
                           const bool usable = CheckRdmaAuth(c, *node, st, pwhat);
                           RdmaTimedOut(st);
                           if (usable) CheckRdmaFailure(c, *node, st, pwhat, resets);
                           next_part(usable && r.ok(), r.ok() ? &r->etag : nullptr);
                         });
        return;
      }
      req.method = "PUT";
      req.query = {{"partNumber", std::to_string(part)}, {"uploadId", up->id}};
      req.body = GenerateBytes(seg.gen, seg.size);
      Send(c, *node, std::move(req), what + " part " + std::to_string(part),
           [next_part](Reply r, Delivery, bool usable) {
             next_part(usable && r.ok(), r.ok() ? r->Header("etag") : nullptr);
           });
      return;
    }
    if (up->abort) {
      Trace("client" + std::to_string(c.index) + " " + what + " -> abort on purpose");
      abort();
      return;
    }
    req.method = "POST";
    req.query = {{"uploadId", up->id}};
    req.body = up->xml + "</CompleteMultipartUpload>";
    const DstModel::WriteId id =
        model_.BeginWrite(ModelKey(*node, key), false, up->segments, rt_->Now());
    Send(c, *node, std::move(req), what + " complete",
         [this, id, what, finish](Reply r, Delivery how, bool usable) {
           if (how == Delivery::kTimedOut) {  // in flight in the model until it ends
             finish();
             return;
           }
           EndWrite(id, r, how, false);
           if (usable && (proto::IsS3Error(r.status(), proto::S3Err::kNoSuchUpload) ||
                          proto::IsS3Error(r.status(), proto::S3Err::kInvalidPart))) {
             Fail("durability", what + ": every part was acknowledged, yet completing says " +
                                    r.status().ToString());
           }
           finish();
         },
         [this, id](Reply, Delivery) { EndLateWrite(id); });
  };
  proto::ClientRequest req;
  req.method = "POST";
  req.bucket = kBucket;
  req.key = key;
  req.query = {{"uploads", ""}};
  Send(c, n, std::move(req), what + " create",
       [up, step, finish](Reply r, Delivery, bool usable) {
         if (usable && r.ok()) up->id = proto::XmlTag(r->body, "UploadId");
         if (up->id.empty()) {
           finish();
           return;
         }
         if (auto first = step.lock()) (*first)(1);
       });
}

void World::Verify(size_t node, size_t key) {
  if (node >= nodes_.size()) {
    verify_done_ = true;
    return;
  }
  Client& checker = clients_.back();
  Node& n = nodes_[node];
  if (key >= keys_.size()) {
    DoList(checker, n, [this, node] { Verify(node + 1, 0); });
    return;
  }
  DoGet(checker, n, keys_[key], false, [this, node, key] { Verify(node, key + 1); });
}

}  // namespace s3rdma::sim::dst_internal
