// bench/simgrid: SimGrid's answer to the question scenarios/simgrid-star.yaml asks s3rdma.
//
// N storage hosts and M client hosts on a non-blocking star (SimGrid StarZone). Every
// host has one full-duplex link (split-duplex: 400 Gbps each way, 2 us latency), so a
// transfer crosses two links: the storage host's uplink and the client's downlink.
// Each client runs Q actors ("streams"); each stream does K back-to-back transfers of
// SIZE bytes (host-to-host Comm::sendto, no disks, no compute) from a storage host drawn
// uniformly at random (Rng::Below(N)), from a core::Rng stream per (client, stream)
// derived exactly as s3rdma sim derives it for workload 0 (sim/world.cc:
// Rng(seed).Fork("workload").Fork(0).Fork(client * Q + stream)), so both simulators are
// asked about the same sequence of transfers: the makespan is set by the busiest storage
// host, and different random draws alone move the aggregate by several percent.
// Run with --cfg=network/model:CM02 (bench/simgrid/run.sh does) for plain max-min sharing.
//
// Prints one "key=value" line per figure: wall time of the simulation (platform build
// excluded and reported apart), simulated makespan, total bytes, aggregate throughput
// (total bytes / makespan) in GB/s (10^9 bytes per second).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <simgrid/s4u.hpp>
#include <xbt/config.hpp>

#include "core/rng.h"
#include "core/units.h"

namespace sg4 = simgrid::s4u;

namespace {

constexpr double kLinkBytesPerSecond = 400e9 / 8;  // 400 Gbps
constexpr double kLinkLatencySeconds = 2e-6;

struct Stream {
  std::vector<sg4::Host*>* storage;
  sg4::Host* client;
  s3rdma::core::Rng rng;
  int transfers;
  uint64_t size_bytes;

  void operator()() {
    for (int k = 0; k < transfers; ++k) {
      sg4::Host* from = (*storage)[rng.Below(storage->size())];
      sg4::Comm::sendto(from, client, size_bytes);
    }
  }
};

sg4::Host* AddHost(sg4::NetZone* zone, const std::string& name) {
  sg4::Host* host = zone->create_host(name, 1e9);
  sg4::SplitDuplexLink* nic = zone->create_split_duplex_link(name + "-nic", kLinkBytesPerSecond);
  nic->set_latency(kLinkLatencySeconds);
  zone->add_route(host->get_netpoint(), nullptr, nullptr, nullptr,
                  {{nic, sg4::LinkInRoute::Direction::UP}}, true);
  return host;
}

bool ParsePositive(const char* text, const char* what, uint64_t* out) {
  const s3rdma::core::Result<int64_t> v = s3rdma::core::ParseCount(text);
  if (!v.ok() || *v <= 0) {
    std::fprintf(stderr, "simgrid_star: error: %s must be a positive count (got '%s')\n", what,
                 text);
    return false;
  }
  *out = static_cast<uint64_t>(*v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  sg4::Engine engine(&argc, argv);  // consumes --cfg=... and --log=...
  if (argc < 5 || argc > 7) {
    std::fprintf(stderr,
                 "usage: simgrid_star N M Q K [SEED] [SIZE] [--cfg=network/model:CM02]\n"
                 "  N storage hosts, M clients, Q streams per client, K transfers per stream,\n"
                 "  SEED (default 1), SIZE per transfer (default 64MB = 64*10^6 bytes)\n");
    return 2;
  }
  uint64_t n = 0, m = 0, q = 0, k = 0, seed = 1;
  if (!ParsePositive(argv[1], "N", &n) || !ParsePositive(argv[2], "M", &m) ||
      !ParsePositive(argv[3], "Q", &q) || !ParsePositive(argv[4], "K", &k)) {
    return 2;
  }
  if (argc >= 6) {
    const s3rdma::core::Result<int64_t> s = s3rdma::core::ParseCount(argv[5]);
    if (!s.ok() || *s < 0) {
      std::fprintf(stderr, "simgrid_star: error: bad SEED '%s'\n", argv[5]);
      return 2;
    }
    seed = static_cast<uint64_t>(*s);
  }
  uint64_t size_bytes = 64'000'000;
  if (argc >= 7) {
    const s3rdma::core::Result<s3rdma::core::Bytes> s = s3rdma::core::ParseBytes(argv[6]);
    if (!s.ok() || s.value().count() <= 0) {
      std::fprintf(stderr, "simgrid_star: error: bad SIZE '%s'\n", argv[6]);
      return 2;
    }
    size_bytes = static_cast<uint64_t>(s.value().count());
  }

  const auto build_start = std::chrono::steady_clock::now();
  sg4::NetZone* zone = sg4::create_star_zone("star");
  std::vector<sg4::Host*> storage;
  std::vector<sg4::Host*> clients;
  for (uint64_t i = 0; i < n; ++i) storage.push_back(AddHost(zone, "storage-" + std::to_string(i)));
  for (uint64_t i = 0; i < m; ++i) clients.push_back(AddHost(zone, "client-" + std::to_string(i)));
  zone->seal();
  const s3rdma::core::Rng root = s3rdma::core::Rng(seed).Fork("workload").Fork(0);
  for (uint64_t c = 0; c < m; ++c) {
    for (uint64_t s = 0; s < q; ++s) {
      sg4::Actor::create("stream-" + std::to_string(c) + "-" + std::to_string(s), clients[c],
                         Stream{&storage, clients[c], root.Fork(c * q + s), static_cast<int>(k),
                                size_bytes});
    }
  }
  const auto run_start = std::chrono::steady_clock::now();
  engine.run();
  const auto run_end = std::chrono::steady_clock::now();

  const double makespan = sg4::Engine::get_clock();
  const double total_bytes = static_cast<double>(m * q * k) * static_cast<double>(size_bytes);
  std::printf("simgrid: N=%llu M=%llu Q=%llu K=%llu size=%llu seed=%llu model=%s\n",
              static_cast<unsigned long long>(n), static_cast<unsigned long long>(m),
              static_cast<unsigned long long>(q), static_cast<unsigned long long>(k),
              static_cast<unsigned long long>(size_bytes), static_cast<unsigned long long>(seed),
              simgrid::config::get_value<std::string>("network/model").c_str());
  std::printf("setup_s=%.3f\n", std::chrono::duration<double>(run_start - build_start).count());
  std::printf("wall_s=%.3f\n", std::chrono::duration<double>(run_end - run_start).count());
  std::printf("makespan_s=%.6f\n", makespan);
  std::printf("total_bytes=%.0f\n", total_bytes);
  std::printf("aggregate_GBps=%.2f\n", makespan > 0 ? total_bytes / makespan / 1e9 : 0.0);
  return 0;
}
