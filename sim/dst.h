// Deterministic simulation testing (DST) of the real S3 server: `s3rdma dst`.
//
// One seed = one world on a VirtualRuntime: 1-3 storage nodes, each the real S3Service on
// a real FsStore over SimFs (or on a MemoryStore), and 2-5 clients sending signed requests
// through DirectTransport (the same signing code as the network client) with random
// latency and clock skew (clients and servers each have their own clock error). The clients run random PUT / GET / ranged GET / multipart /
// DELETE / LIST on a small key space, several at once, so writers of one key race.
// Meanwhile storage nodes crash (SimFs drops, keeps or tears what was not durable, the
// process's in-flight requests are cut) and restart (FsStore::Open runs recovery), SimFs
// injects I/O errors, drives are slow for a while (every SimFs call has a service time on a
// FIFO drive; replies wait for it; clients time out and retry), client processes crash
// mid-request (their NIC, QPs and buffers vanish; their writes stay in flight forever), and
// client-node pairs are partitioned for a while (requests time out, replies are lost). The
// RDMA data path runs over an in-process fabric with packet faults and link flaps. Then a
// quiet phase without faults, and final reads.
// Checkers (DstModel, dst_model.h): every read, listing and final read is legal for the
// history of its key; skewed requests (beyond SigV4's 15 minutes) fail with
// RequestTimeTooSkewed and in-window ones never do; a GET's bytes match its ETag; an
// acknowledged multipart upload and its acknowledged parts survive crashes; RDMA never
// writes outside the token's bytes (guards) and never fails a transfer the world could not
// have broken; after the quiet phase no request is outstanding (liveness) and no server
// holds an RDMA connection (cleanup).
// The run is a pure function of (seed, options): the VirtualRuntime trace hash repeats.
//
// Planted bugs (docs/dst.md): `plant` names a known bug switched on for the run, to show
// the checkers catch it; available only when built with S3RDMA_PLANT_BUGS.
#ifndef S3RDMA_SIM_DST_H_
#define S3RDMA_SIM_DST_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace s3rdma::sim {

struct DstOptions {
  uint64_t ops = 200;  // client operations issued in the fault phase (>= 1)
  std::string plant;   // "" or one of PlantableBugs()
  // Receives one line per client operation and per fault when set (--verbose).
  std::function<void(const std::string&)> trace;
};

struct DstResult {
  uint64_t seed = 0;
  std::string world;                  // one line: nodes, stores, clients, skews
  std::vector<std::string> failures;  // "<invariant>: <detail>", one line each
  uint64_t ops = 0;                   // client operations finished
  uint64_t requests = 0;              // HTTP requests sent
  uint64_t acked_writes = 0;
  uint64_t unknown_writes = 0;  // outcome unknown (5xx, cut by a crash)
  uint64_t checked_reads = 0;   // GETs, ranges and listings checked against the model
  uint64_t skew_rejections = 0;
  uint64_t crashes = 0;
  uint64_t partitions = 0;  // client-node pairs cut off for a while
  uint64_t injected_io_errors = 0;
  uint64_t rdma_ops = 0;           // RDMA GET / PUT / UploadPart requests finished
  uint64_t rdma_ok = 0;            // ... that moved their bytes by RDMA
  uint64_t rdma_reconnects = 0;    // client QPs dropped and reconnected (crashes, stale QPs)
  uint64_t rdma_excused_failures = 0;  // RDMATransferFailed on a request in flight when its
                                       // client reset a connection to that node (a timeout)
  uint64_t rdma_checked_after_reset = 0;  // answered RDMA requests held to rdma-transfer although
                                          // their client had reset a QP to that node before
  uint64_t fabric_faults = 0;      // packets dropped, duplicated, reordered or corrupted
  uint64_t flap_drops = 0;         // packets dropped by link flaps
  uint64_t slow_drive_periods = 0;  // a node's drive slowed down for a while
  uint64_t timeouts = 0;            // HTTP requests the client gave up on (then retried)
  double max_drive_wait_ms = 0;     // longest an I/O call waited in a drive's queue
  uint64_t client_crashes = 0;      // client processes that died mid-request (and restarted)
  uint64_t abandoned_ops = 0;       // operations a client crash cut (not in `ops`)
  uint64_t rdma_dead_connections = 0;  // server connections destroyed after a failed transfer
                                       // (current node incarnations only)
  uint64_t events = 0;
  uint64_t trace_hash = 0;  // VirtualRuntime::TraceHash() at the end
  uint64_t history_hash = 0;  // every reply the clients got (status, bytes, time), folded
  double virtual_seconds = 0;
  bool ok() const { return failures.empty(); }
};

struct PlantableBug {
  std::string name;
  std::string where;  // the hook
  bool available = false;  // compiled in and wired to dst
};
// Every planted bug dst knows, including the documented RDMA hooks that are not wired yet.
std::vector<PlantableBug> PlantableBugs();
// OK if `name` is "" or an available planted bug, else InvalidArgument listing them.
core::Status ValidatePlant(const std::string& name);

// Runs one seed. REQUIRES: ValidatePlant(options.plant).ok(), options.ops >= 1.
DstResult RunDstSeed(uint64_t seed, const DstOptions& options);

// "s3rdma dst --seed S --ops N [--plant P]": the command that replays a seed exactly.
std::string ReplayCommand(uint64_t seed, const DstOptions& options);

}  // namespace s3rdma::sim

#endif  // S3RDMA_SIM_DST_H_
