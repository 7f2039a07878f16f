// Internals of RdmaServer shared by its .cc files (rdma_server*.cc). Not a public header.
#ifndef S3RDMA_PROTO_INTERNAL_RDMA_SERVER_IMPL_H_
#define S3RDMA_PROTO_INTERNAL_RDMA_SERVER_IMPL_H_

#include <list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "proto/rdma_server.h"

namespace s3rdma::proto {

struct RdmaServer::Connection {
  uint64_t id = 0;
  ConnKey key;
  std::string owner;
  std::unique_ptr<emu::QueuePair> qp;
  core::Time last_used;
  std::vector<std::shared_ptr<TransferImpl>> running;
  // Beyond max_requests_per_connection. A list, not a deque: queueing is rare, and a deque
  // allocates ~600 bytes up front in every connection (a simulation holds tens of thousands).
  std::list<std::shared_ptr<TransferImpl>> queued;
};

class RdmaServer::TransferImpl final : public RdmaTransfer,
                                       public std::enable_shared_from_this<TransferImpl> {
 public:
  enum class Kind { kWrite, kRead };
  enum class State { kNew, kQueued, kRunning, kDone };

  void Cancel() override {
    if (cancelled) return;
    cancelled = true;
    done = nullptr;
    sink = nullptr;
    if (server != nullptr && state != State::kDone) server->Pump(shared_from_this());
  }

  RdmaServer* server = nullptr;  // null once the server is gone
  Kind kind = Kind::kWrite;
  State state = State::kNew;
  ConnKey key;
  std::string owner;
  uint64_t conn_id = 0;
  // The connection whose running or queued list holds this transfer, else null: set by
  // Begin, cleared when the transfer leaves the list (FinishTransfer) or the connection goes
  // (DestroyConnection, ~RdmaServer). Saves a map lookup per completion.
  Connection* conn = nullptr;
  uint64_t remote_addr = 0;
  uint32_t rkey = 0;
  uint64_t total = 0;
  // GET.
  std::unique_ptr<ObjectReader> reader;
  uint64_t read_offset = 0;
  std::unique_ptr<emu::MemoryRegion> zc_mr;  // zero copy: the reader's memory, registered
  const char* zc_base = nullptr;
  // PUT: completed READs not yet handed to the sink, by offset -> (chunk, length).
  Sink sink;
  std::map<uint64_t, std::pair<uint32_t, uint32_t>> ready;
  uint64_t delivered = 0;

  Done done;
  uint64_t posted = 0;     // bytes whose WRs have been posted
  uint64_t completed = 0;  // bytes whose WRs completed (and, for READs, were delivered)
  uint32_t inflight = 0;
  std::vector<uint32_t> spare;  // staging chunks held by this transfer, not in flight
  bool waiting_chunk = false;
  bool cancelled = false;
  core::Status error;  // first failure: nothing more is posted
};

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_INTERNAL_RDMA_SERVER_IMPL_H_
