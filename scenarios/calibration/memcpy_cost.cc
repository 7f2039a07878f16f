// CPU cost of one memcpy pass on this machine, in core-seconds per GB (10^9 bytes): the
// GPU server's TCP bounce copy (socket receive buffer -> pinned staging buffer that the
// GPU's copy engine then reads). 64 MiB buffers, both touched first, copied 64 times; the
// time is the process CPU time (CLOCK_PROCESS_CPUTIME_ID), so other load does not count.
// Build and run: g++ -O2 -std=c++20 -o /tmp/memcpy_cost memcpy_cost.cc && /tmp/memcpy_cost
#include <time.h>

#include <cstdio>
#include <cstring>
#include <vector>

namespace {
double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
}  // namespace

int main() {
  constexpr size_t kSize = 64u << 20;
  constexpr int kPasses = 64;
  std::vector<char> src(kSize, 1), dst(kSize, 0);
  std::memcpy(dst.data(), src.data(), kSize);  // fault both in
  const double t0 = CpuSeconds();
  unsigned sum = 0;
  for (int i = 0; i < kPasses; ++i) {
    src[static_cast<size_t>(i)] = static_cast<char>(i);
    std::memcpy(dst.data(), src.data(), kSize);
    sum += static_cast<unsigned char>(dst[static_cast<size_t>(i) * 4099 % kSize]);
  }
  const double cpu = CpuSeconds() - t0;
  const double gb = static_cast<double>(kSize) * kPasses / 1e9;
  std::printf("memcpy %.2f GB in %.3f CPU s: %.2f GB/s, %.4f s/GB (check %u)\n", gb, cpu, gb / cpu,
              cpu / gb, sum);
  return 0;
}
