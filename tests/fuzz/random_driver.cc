// A plain seeded random-input driver for libFuzzer targets, so that every fuzz target also
// runs in the normal (GCC) test suite and under its sanitizers without clang.
//
//   <target> [--seed N] [--iterations N] [--max-len N] [FILE...]
//
// With FILEs, runs each file's bytes once (to replay a crash found by libFuzzer). Otherwise
// runs `iterations` inputs drawn from core::Rng(seed): random lengths (biased to short),
// random bytes, and mutations (bit flips, truncation, splices) of earlier inputs. Prints the
// seed first, so a crash is reproducible with the same --seed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/rng.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

bool ParseU64(const char* text, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') return false;
  *out = v;
  return true;
}

int Usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--seed N] [--iterations N] [--max-len N] [FILE...]\n", argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1, iterations = 20000, max_len = 4300;
  if (const char* env = std::getenv("S3RDMA_FUZZ_SEED")) ParseU64(env, &seed);
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    uint64_t* target = arg == "--seed" ? &seed : arg == "--iterations" ? &iterations : arg == "--max-len" ? &max_len : nullptr;
    if (target != nullptr) {
      if (i + 1 >= argc || !ParseU64(argv[++i], target)) return Usage(argv[0]);
    } else if (!arg.empty() && arg[0] == '-') {
      return Usage(argv[0]);
    } else {
      files.push_back(arg);
    }
  }
  if (!files.empty()) {
    for (const std::string& f : files) {
      std::ifstream in(f, std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "cannot read %s\n", f.c_str());
        return 2;
      }
      std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
      std::printf("ran %s (%zu bytes)\n", f.c_str(), bytes.size());
    }
    return 0;
  }
  std::printf("random fuzz driver: seed %llu, %llu iterations (reproduce with --seed %llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(iterations),
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  s3rdma::core::Rng rng(seed);
  std::vector<std::vector<uint8_t>> pool;  // recent inputs to mutate
  for (uint64_t it = 0; it < iterations; ++it) {
    std::vector<uint8_t> input;
    if (!pool.empty() && rng.Bernoulli(0.5)) {
      input = pool[rng.Below(pool.size())];
      const uint64_t mutations = 1 + rng.Below(4);
      for (uint64_t m = 0; m < mutations; ++m) {
        switch (rng.Below(4)) {
          case 0:
            if (!input.empty()) input[rng.Below(input.size())] ^= uint8_t(1u << rng.Below(8));
            break;
          case 1:
            if (!input.empty()) input.resize(rng.Below(input.size()));
            break;
          case 2:
            if (!input.empty()) input[rng.Below(input.size())] = uint8_t(rng.NextU64());
            break;
          default:
            if (input.size() < max_len) input.push_back(uint8_t(rng.NextU64()));
            break;
        }
      }
    } else {
      // Mostly short inputs (headers), sometimes up to max_len (full MTU payloads).
      const uint64_t len = rng.Bernoulli(0.8) ? rng.Below(97) : rng.Below(max_len + 1);
      input.resize(len);
      for (auto& b : input) b = uint8_t(rng.NextU64());
    }
    LLVMFuzzerTestOneInput(input.data(), input.size());
    if (pool.size() < 256) {
      pool.push_back(std::move(input));
    } else {
      pool[rng.Below(pool.size())] = std::move(input);
    }
  }
  std::printf("ok: %llu inputs\n", static_cast<unsigned long long>(iterations));
  return 0;
}
