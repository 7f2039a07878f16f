// Fuzz target: the XML request bodies (CompleteMultipartUpload, Delete,
// CreateBucketConfiguration) on arbitrary bytes, and a round trip of escaped keys through a
// Delete document.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/check.h"
#include "proto/xml.h"

using namespace s3rdma;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto parts = proto::ParseCompleteMultipartUpload(text);
  if (parts.ok()) {
    for (const auto& p : *parts) S3_CHECK(p.number >= 1 && p.number <= 10000);
  }
  auto del = proto::ParseDeleteObjects(text);
  if (del.ok()) S3_CHECK(!del->keys.empty() && del->keys.size() <= 1000);
  (void)proto::ParseCreateBucketConfiguration(text);

  // Keys without control characters survive escaping and parsing unchanged.
  std::string key;
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7F) key += c;
  }
  if (!key.empty() && key.front() != ' ' && key.back() != ' ') {
    const std::string doc = "<Delete><Object><Key>" + proto::XmlEscape(key) +
                            "</Key></Object></Delete>";
    auto back = proto::ParseDeleteObjects(doc);
    S3_CHECK_MSG(back.ok() && back->keys.size() == 1 && back->keys[0] == key,
                 "escaped key did not round-trip: " + key);
  }
  return 0;
}
