// A seeded, splittable pseudo-random generator.
//
// One seed per run; each component forks its own stream with Fork(id) or Fork("name"),
// so adding draws in one component never changes another's sequence. The generator is
// xoshiro256** seeded through SplitMix64; distributions are implemented here (not with
// <random>'s distributions, whose output differs between standard libraries), so a seed
// gives the same numbers on every platform and compiler.
#ifndef S3RDMA_CORE_RNG_H_
#define S3RDMA_CORE_RNG_H_

#include <cstdint>
#include <string_view>

namespace s3rdma::core {

class Rng {
 public:
  explicit Rng(uint64_t seed);

  // An independent stream identified by `stream` (or a name), derived from this
  // generator's identity, not its current state: Fork(3) is the same whenever it is called.
  Rng Fork(uint64_t stream) const;
  Rng Fork(std::string_view name) const;

  uint64_t NextU64();
  // Uniform in [0, n). REQUIRES: n > 0. Unbiased (Lemire's method).
  uint64_t Below(uint64_t n);
  // Uniform in [lo, hi], inclusive. REQUIRES: lo <= hi.
  int64_t Uniform(int64_t lo, int64_t hi);
  // Uniform in [0, 1) with 53 random bits.
  double NextDouble();
  // True with probability p (p <= 0: never, p >= 1: always).
  bool Bernoulli(double p);
  // Exponentially distributed with the given mean (> 0).
  double Exponential(double mean);

  // The identity this stream was created with (for printing and forking).
  uint64_t identity() const { return identity_; }

 private:
  uint64_t identity_;
  uint64_t s_[4];
};

// SplitMix64 finaliser: a good 64-bit mixing function, also used for stable hashing.
uint64_t Mix64(uint64_t x);

}  // namespace s3rdma::core

#endif  // S3RDMA_CORE_RNG_H_
