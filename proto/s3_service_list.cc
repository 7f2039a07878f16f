// Listings: ListObjects (v1), ListObjectsV2, ListObjectVersions, ListMultipartUploads,
// ListParts. Delimiters fold keys into CommonPrefixes; a folded prefix is skipped in one
// store query, not key by key.
#include <algorithm>

#include "proto/hash.h"
#include "proto/internal/s3_ops.h"
#include "proto/s3_error.h"
#include "proto/xml.h"

namespace s3rdma::proto::internal {
namespace {

// The smallest string greater than every string that starts with `p`; empty if none.
std::string PrefixEnd(std::string p) {
  while (!p.empty() && static_cast<unsigned char>(p.back()) == 0xFF) p.pop_back();
  if (!p.empty()) p.back() = static_cast<char>(static_cast<unsigned char>(p.back()) + 1);
  return p;
}

struct Entry {
  bool is_prefix = false;
  std::string name;  // key or common prefix
  ObjectMeta meta;
};

struct Page {
  std::vector<Entry> entries;
  bool truncated = false;
  std::string next_from;  // inclusive start of the next page
};

// `from` is inclusive; `after` (marker / start-after, may be empty) excludes a common prefix
// that is not greater than it, as S3 does when a marker names a prefix.
core::Result<Page> Collect(ObjectStore& store, const std::string& bucket,
                           const std::string& prefix, const std::string& delimiter,
                           std::string from, size_t max_keys, const std::string& after = {}) {
  Page page;
  constexpr size_t kBatch = 1000;
  bool done = false;
  while (!done) {
    S3_ASSIGN_OR_RETURN(auto batch, store.List(bucket, prefix, from, kBatch));
    if (batch.empty()) break;
    bool restarted = false;
    for (auto& meta : batch) {
      std::string cp;
      if (!delimiter.empty()) {
        const size_t pos = meta.key.find(delimiter, prefix.size());
        if (pos != std::string::npos) cp = meta.key.substr(0, pos + delimiter.size());
      }
      if (!cp.empty() && !after.empty() && cp <= after) {
        from = PrefixEnd(cp);
        if (from.empty()) done = true;
        restarted = true;
        break;
      }
      if (page.entries.size() == max_keys) {
        page.truncated = true;
        page.next_from = meta.key;
        done = true;
        break;
      }
      if (!cp.empty()) {
        page.entries.push_back({true, cp, {}});
        from = PrefixEnd(cp);
        if (from.empty()) done = true;
        restarted = true;
        break;
      }
      Entry e;
      e.name = meta.key;
      e.meta = std::move(meta);
      page.entries.push_back(std::move(e));
    }
    if (done || restarted) continue;
    if (batch.size() < kBatch) break;
    from = batch.back().key + std::string(1, '\0');
  }
  return page;
}

std::string Enc(bool url, std::string_view s) {
  return url ? UriEncode(s, /*keep_slash=*/true) : std::string(s);
}

core::Result<size_t> MaxKeys(const RequestContext& ctx, std::string_view name) {
  const std::string* v = ctx.Param(name);
  if (v == nullptr) return size_t{1000};
  auto n = ParseDecimal(*v, 1u << 30);
  if (!n) return S3Error(S3Err::kInvalidArgument, "Provided " + std::string(name) +
                                                     " not an integer or within integer range");
  return static_cast<size_t>(std::min<uint64_t>(*n, 1000));
}

std::string ParamOr(const RequestContext& ctx, std::string_view name) {
  const std::string* v = ctx.Param(name);
  return v ? *v : std::string();
}

void Owner(XmlWriter& x, const RequestContext& ctx) {
  const std::string id = ctx.auth.anonymous ? "anonymous" : ctx.auth.access_key;
  x.Open("Owner").Element("ID", id).Element("DisplayName", id).Close("Owner");
}

}  // namespace

S3Response ListObjects(RequestContext& ctx, int version) {
  const std::string prefix = ParamOr(ctx, "prefix");
  const std::string delimiter = ParamOr(ctx, "delimiter");
  const std::string* enc_type = ctx.Param("encoding-type");
  if (enc_type != nullptr && *enc_type != "url") {
    return ctx.Error(S3Error(S3Err::kInvalidArgument, "Invalid Encoding Method specified"));
  }
  const bool url = enc_type != nullptr;
  auto max_keys = MaxKeys(ctx, "max-keys");
  if (!max_keys.ok()) return ctx.Error(max_keys.status());
  std::string from;
  const std::string marker = ParamOr(ctx, version == 2 ? "start-after" : "marker");
  const std::string* token = version == 2 ? ctx.Param("continuation-token") : nullptr;
  if (token != nullptr) {
    auto raw = Base64Decode(*token);
    if (!raw || raw->empty()) {
      return ctx.Error(S3Error(S3Err::kInvalidArgument, "The continuation token provided is "
                                                        "incorrect"));
    }
    from = *raw;
  } else if (!marker.empty()) {
    from = marker + std::string(1, '\0');
  }
  auto page = Collect(ctx.store(), ctx.bucket, prefix, delimiter, from, *max_keys,
                      token != nullptr ? std::string() : marker);
  if (!page.ok()) return ctx.Error(page.status());
  const bool fetch_owner = version == 1 || ParamOr(ctx, "fetch-owner") == "true";

  XmlWriter x("ListBucketResult");
  x.Element("Name", ctx.bucket).Element("Prefix", Enc(url, prefix));
  if (version == 2) {
    if (token != nullptr) x.Element("ContinuationToken", *token);
    if (!marker.empty()) x.Element("StartAfter", Enc(url, marker));
    x.Element("KeyCount", page->entries.size());
  } else {
    x.Element("Marker", Enc(url, marker));
  }
  x.Element("MaxKeys", *max_keys);
  if (!delimiter.empty()) x.Element("Delimiter", Enc(url, delimiter));
  if (url) x.Element("EncodingType", "url");
  x.Bool("IsTruncated", page->truncated);
  if (page->truncated) {
    if (version == 2) {
      x.Element("NextContinuationToken", Base64Encode(page->next_from));
    } else if (!delimiter.empty() && !page->entries.empty()) {
      x.Element("NextMarker", Enc(url, page->entries.back().name));
    }
  }
  for (const auto& e : page->entries) {
    if (e.is_prefix) continue;
    x.Open("Contents").Element("Key", Enc(url, e.name));
    x.Element("LastModified", FormatIsoDate(e.meta.last_modified_unix));
    x.Element("ETag", Quote(e.meta.etag)).Element("Size", e.meta.size);
    if (fetch_owner) Owner(x, ctx);
    x.Element("StorageClass", "STANDARD").Close("Contents");
  }
  for (const auto& e : page->entries) {
    if (!e.is_prefix) continue;
    x.Open("CommonPrefixes").Element("Prefix", Enc(url, e.name)).Close("CommonPrefixes");
  }
  return XmlResponse(200, x.Finish());
}

S3Response ListObjectVersions(RequestContext& ctx) {
  const std::string prefix = ParamOr(ctx, "prefix");
  const std::string delimiter = ParamOr(ctx, "delimiter");
  const bool url = ParamOr(ctx, "encoding-type") == "url";
  auto max_keys = MaxKeys(ctx, "max-keys");
  if (!max_keys.ok()) return ctx.Error(max_keys.status());
  const std::string key_marker = ParamOr(ctx, "key-marker");
  auto page = Collect(ctx.store(), ctx.bucket, prefix, delimiter,
                      key_marker.empty() ? std::string() : key_marker + std::string(1, '\0'),
                      *max_keys, key_marker);
  if (!page.ok()) return ctx.Error(page.status());
  XmlWriter x("ListVersionsResult");
  x.Element("Name", ctx.bucket).Element("Prefix", Enc(url, prefix));
  x.Element("KeyMarker", Enc(url, key_marker)).Element("VersionIdMarker", "");
  x.Element("MaxKeys", *max_keys);
  if (!delimiter.empty()) x.Element("Delimiter", Enc(url, delimiter));
  if (url) x.Element("EncodingType", "url");
  x.Bool("IsTruncated", page->truncated);
  if (page->truncated && !page->entries.empty()) {
    x.Element("NextKeyMarker", Enc(url, page->entries.back().name));
    x.Element("NextVersionIdMarker", "null");
  }
  for (const auto& e : page->entries) {
    if (e.is_prefix) continue;
    x.Open("Version").Element("Key", Enc(url, e.name)).Element("VersionId", "null");
    x.Bool("IsLatest", true).Element("LastModified", FormatIsoDate(e.meta.last_modified_unix));
    x.Element("ETag", Quote(e.meta.etag)).Element("Size", e.meta.size);
    Owner(x, ctx);
    x.Element("StorageClass", "STANDARD").Close("Version");
  }
  for (const auto& e : page->entries) {
    if (!e.is_prefix) continue;
    x.Open("CommonPrefixes").Element("Prefix", Enc(url, e.name)).Close("CommonPrefixes");
  }
  return XmlResponse(200, x.Finish());
}

S3Response ListMultipartUploads(RequestContext& ctx) {
  const std::string prefix = ParamOr(ctx, "prefix");
  const bool url = ParamOr(ctx, "encoding-type") == "url";
  auto max = MaxKeys(ctx, "max-uploads");
  if (!max.ok()) return ctx.Error(max.status());
  const std::string key_marker = ParamOr(ctx, "key-marker");
  const std::string id_marker = ParamOr(ctx, "upload-id-marker");
  auto uploads = ctx.store().ListUploads(ctx.bucket);
  if (!uploads.ok()) return ctx.Error(uploads.status());
  XmlWriter x("ListMultipartUploadsResult");
  x.Element("Bucket", ctx.bucket).Element("KeyMarker", Enc(url, key_marker));
  x.Element("UploadIdMarker", id_marker).Element("Prefix", Enc(url, prefix));
  x.Element("MaxUploads", *max);
  if (url) x.Element("EncodingType", "url");
  std::vector<const UploadInfo*> chosen;
  bool truncated = false;
  for (const auto& u : *uploads) {
    if (u.key.compare(0, prefix.size(), prefix) != 0) continue;
    if (!key_marker.empty()) {
      if (u.key < key_marker) continue;
      if (u.key == key_marker && (id_marker.empty() || u.upload_id <= id_marker)) continue;
    }
    if (chosen.size() == *max) {
      truncated = true;
      break;
    }
    chosen.push_back(&u);
  }
  x.Bool("IsTruncated", truncated);
  if (truncated && !chosen.empty()) {
    x.Element("NextKeyMarker", Enc(url, chosen.back()->key));
    x.Element("NextUploadIdMarker", chosen.back()->upload_id);
  }
  for (const UploadInfo* u : chosen) {
    x.Open("Upload").Element("Key", Enc(url, u->key)).Element("UploadId", u->upload_id);
    x.Open("Initiator").Element("ID", ctx.auth.access_key).Close("Initiator");
    Owner(x, ctx);
    x.Element("StorageClass", "STANDARD");
    x.Element("Initiated", FormatIsoDate(u->initiated_unix)).Close("Upload");
  }
  return XmlResponse(200, x.Finish());
}

S3Response ListParts(RequestContext& ctx) {
  const std::string& upload_id = *ctx.Param("uploadId");
  auto parts = ctx.store().ListParts(ctx.bucket, ctx.key, upload_id);
  if (!parts.ok()) return ctx.Error(parts.status());
  auto max = MaxKeys(ctx, "max-parts");
  if (!max.ok()) return ctx.Error(max.status());
  uint64_t marker = 0;
  if (const std::string* m = ctx.Param("part-number-marker")) {
    auto n = ParseDecimal(*m, kMaxPartNumber);
    if (!n) return ctx.Error(S3Error(S3Err::kInvalidArgument, "bad part-number-marker"));
    marker = *n;
  }
  XmlWriter x("ListPartsResult");
  x.Element("Bucket", ctx.bucket).Element("Key", ctx.key).Element("UploadId", upload_id);
  x.Element("PartNumberMarker", marker);
  std::vector<const PartInfo*> chosen;
  bool truncated = false;
  for (const auto& p : *parts) {
    if (static_cast<uint64_t>(p.number) <= marker) continue;
    if (chosen.size() == *max) {
      truncated = true;
      break;
    }
    chosen.push_back(&p);
  }
  if (!chosen.empty()) x.Element("NextPartNumberMarker", chosen.back()->number);
  x.Element("MaxParts", *max).Bool("IsTruncated", truncated);
  x.Open("Initiator").Element("ID", ctx.auth.access_key).Close("Initiator");
  Owner(x, ctx);
  x.Element("StorageClass", "STANDARD");
  for (const PartInfo* p : chosen) {
    x.Open("Part").Element("PartNumber", p->number);
    x.Element("LastModified", FormatIsoDate(p->last_modified_unix));
    x.Element("ETag", Quote(p->etag)).Element("Size", p->size).Close("Part");
  }
  return XmlResponse(200, x.Finish());
}

}  // namespace s3rdma::proto::internal
