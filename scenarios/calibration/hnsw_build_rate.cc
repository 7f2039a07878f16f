// Measures the CPU index-build rate of an HNSW graph on one core of this machine:
// vectors inserted per second, for the default cpu.index_build_rate_per_core
// (docs/models.md). A compact HNSW (Malkov & Yashunin 2016, as in hnswlib): random level
// with mL = 1/ln(M), greedy descent through the upper layers, beam search with
// efConstruction on each layer from the insert level down, neighbour selection with
// the paper's heuristic, M links per layer (2M on layer 0), pruning of overfull lists.
// L2 distance on float32. Data: standard-normal vectors (seeded).
//
// Build and run (not part of the CMake build: it is a calibration tool):
//   g++ -O3 -march=native -ffast-math -std=c++20 -o /tmp/hnsw_build_rate
//       scenarios/calibration/hnsw_build_rate.cc   (SIMD distances, as hnswlib builds them)
//   /tmp/hnsw_build_rate [n=20000] [dim=768] [M=16] [efConstruction=200]
#include <algorithm>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <queue>
#include <random>
#include <vector>

namespace {

struct Graph {
  int dim, m, ef;
  double ml;
  std::vector<float> data;
  std::vector<int> level;
  std::vector<std::vector<std::vector<int>>> links;  // [node][layer] -> neighbours
  int entry = -1;
  int top = -1;
  std::vector<unsigned> visited;
  unsigned epoch = 0;

  float Dist(int a, int b) const {
    const float* x = &data[static_cast<size_t>(a) * dim];
    const float* y = &data[static_cast<size_t>(b) * dim];
    float s = 0;
    for (int i = 0; i < dim; ++i) {
      const float d = x[i] - y[i];
      s += d * d;
    }
    return s;
  }

  using Cand = std::pair<float, int>;
  // Beam search on one layer; returns up to `ef` closest, nearest first.
  std::vector<Cand> Search(int q, int start, int ef_search, int layer) {
    ++epoch;
    std::priority_queue<Cand, std::vector<Cand>, std::greater<>> frontier;  // min-heap
    std::priority_queue<Cand> best;                                        // max-heap
    const float d0 = Dist(q, start);
    frontier.push({d0, start});
    best.push({d0, start});
    visited[start] = epoch;
    while (!frontier.empty()) {
      const Cand c = frontier.top();
      frontier.pop();
      if (c.first > best.top().first && static_cast<int>(best.size()) >= ef_search) break;
      for (int nb : links[c.second][layer]) {
        if (visited[nb] == epoch) continue;
        visited[nb] = epoch;
        const float d = Dist(q, nb);
        if (static_cast<int>(best.size()) < ef_search || d < best.top().first) {
          frontier.push({d, nb});
          best.push({d, nb});
          if (static_cast<int>(best.size()) > ef_search) best.pop();
        }
      }
    }
    std::vector<Cand> out;
    while (!best.empty()) {
      out.push_back(best.top());
      best.pop();
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

  // The paper's heuristic: keep a candidate only if it is closer to q than to every kept one.
  std::vector<int> Select(const std::vector<Cand>& cands, int keep) const {
    std::vector<int> out;
    for (const Cand& c : cands) {
      if (static_cast<int>(out.size()) >= keep) break;
      bool good = true;
      for (int o : out) {
        if (Dist(c.second, o) < c.first) {
          good = false;
          break;
        }
      }
      if (good) out.push_back(c.second);
    }
    return out;
  }

  void Insert(int q, std::mt19937_64& rng) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const int l = static_cast<int>(-std::log(1.0 - u(rng)) * ml);
    level[q] = l;
    links[q].assign(static_cast<size_t>(l + 1), {});
    if (entry < 0) {
      entry = q;
      top = l;
      return;
    }
    int cur = entry;
    for (int layer = top; layer > l; --layer) {
      bool changed = true;
      float dcur = Dist(q, cur);
      while (changed) {
        changed = false;
        for (int nb : links[cur][layer]) {
          const float d = Dist(q, nb);
          if (d < dcur) {
            dcur = d;
            cur = nb;
            changed = true;
          }
        }
      }
    }
    for (int layer = std::min(l, top); layer >= 0; --layer) {
      const std::vector<Cand> cands = Search(q, cur, ef, layer);
      const int cap = layer == 0 ? 2 * m : m;
      links[q][layer] = Select(cands, m);
      for (int nb : links[q][layer]) {
        auto& back = links[nb][layer];
        back.push_back(q);
        if (static_cast<int>(back.size()) > cap) {
          std::vector<Cand> c;
          for (int x : back) c.push_back({Dist(nb, x), x});
          std::sort(c.begin(), c.end());
          back = Select(c, cap);
        }
      }
      cur = cands.front().second;
    }
    if (l > top) {
      top = l;
      entry = q;
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 20000;
  const int dim = argc > 2 ? std::atoi(argv[2]) : 768;
  const int m = argc > 3 ? std::atoi(argv[3]) : 16;
  const int ef = argc > 4 ? std::atoi(argv[4]) : 200;
  Graph g{dim, m, ef, 1.0 / std::log(static_cast<double>(m)), {}, {}, {}, -1, -1, {}, 0};
  std::mt19937_64 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  g.data.resize(static_cast<size_t>(n) * dim);
  for (float& x : g.data) x = normal(rng);
  g.level.assign(static_cast<size_t>(n), 0);
  g.links.resize(static_cast<size_t>(n));
  g.visited.assign(static_cast<size_t>(n), 0);
  // CPU time of this (single-threaded) process, so other load on the machine does not count.
  const std::clock_t t0 = std::clock();
  for (int i = 0; i < n; ++i) g.Insert(i, rng);
  const double s = static_cast<double>(std::clock() - t0) / CLOCKS_PER_SEC;
  std::printf("n=%d dim=%d M=%d efConstruction=%d: %.2f CPU s, %.0f vectors per core-second\n", n,
              dim, m, ef, s, n / s);
  return 0;
}
