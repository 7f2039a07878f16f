// Fuzz target: Range header parsing and HTTP dates. A parsed range always lies inside the
// object; date formatting round-trips.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/check.h"
#include "proto/http_util.h"
#include "proto/internal/s3_ops.h"

using namespace s3rdma;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint64_t object_size = 0;
  if (size >= 8) {
    std::memcpy(&object_size, data, 8);
    object_size %= (1ull << 40);
    data += 8;
    size -= 8;
  }
  const std::string header(reinterpret_cast<const char*>(data), size);
  for (const std::string& h : {header, "bytes=" + header}) {
    auto r = proto::internal::ParseRange(h, object_size);
    if (r.ok() && r->has_value()) {
      const auto& range = **r;
      S3_CHECK(range.length > 0);
      S3_CHECK(range.first < object_size);
      S3_CHECK(range.length <= object_size - range.first);
    }
  }
  const int64_t t = static_cast<int64_t>(object_size % 253402300799ull);
  auto back = proto::ParseHttpDate(proto::FormatHttpDate(t));
  S3_CHECK(back.has_value() && *back == t);
  auto amz = proto::ParseAmzDate(proto::FormatAmzDate(t));
  S3_CHECK(amz.has_value() && *amz == t);
  (void)proto::ParseDecimal(header);
  return 0;
}
