// Fuzz target: x-amz-rdma-token and x-s3rdma-rc parsing. Never crashes; whatever parses
// formats back to the same text (modulo the tolerated trailing ';' of a token) and the
// parsed buffer always lies inside the descriptor's region.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/check.h"
#include "proto/rdma_token.h"

using namespace s3rdma;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto t = proto::ParseRdmaToken(text);
  if (t.ok()) {
    std::string canonical = text;
    if (!canonical.empty() && canonical.back() == ';') canonical.pop_back();
    S3_CHECK(proto::FormatRdmaToken(t->desc, t->has_suffix, t->addr, t->size) == canonical);
    S3_CHECK(t->desc.transport == proto::kRdmaTransportRc);
    S3_CHECK(t->addr >= t->desc.addr);
    S3_CHECK(t->size <= t->desc.length);
    S3_CHECK(t->addr - t->desc.addr <= t->desc.length - t->size);
  }
  auto p = proto::ParseRcConnectHeader(text);
  if (p.ok()) {
    S3_CHECK(p->qpn != 0 && p->qpn <= 0xffffff && p->psn <= 0xffffff && p->udp_port != 0);
    auto again = proto::ParseRcConnectHeader(proto::FormatRcConnectHeader(*p));
    S3_CHECK(again.ok() && *again == *p);
  }
  // Structured round trip: the bytes as descriptor fields.
  if (size >= 44) {
    proto::RcDescriptor d;
    d.transport = 1;
    d.qpn = (uint32_t{data[1]} | uint32_t{data[2]} << 8 | uint32_t{data[3]} << 16);
    for (size_t i = 0; i < 16; ++i) d.gid[i] = data[4 + i];
    uint64_t a = 0, l = 0;
    for (size_t i = 0; i < 8; ++i) a |= uint64_t{data[20 + i]} << (8 * i);
    for (size_t i = 0; i < 8; ++i) l |= uint64_t{data[28 + i]} << (8 * i);
    d.addr = a;
    d.length = l;
    d.rkey = uint32_t{data[36]} | uint32_t{data[37]} << 8;
    auto back = proto::ParseRdmaToken(proto::FormatRdmaToken(d, false, 0, 0));
    S3_CHECK(back.ok() == (d.qpn != 0 && l <= UINT64_MAX - a));
    if (back.ok()) S3_CHECK(back->desc == d);
  }
  return 0;
}
