#pragma once
// Data-parallel training of one run over `world` processes with PyTorch's own distributed
// library (c10d, part of LibTorch): a TCPStore served by rank 0 for the rendezvous, and a Gloo
// process group on CPU or NCCL on CUDA (same calls, the backend chosen by device). train.cpp is
// the only user; per optimizer step it calls
//   SumGradients -> clip, step the local AdamW -> GatherParameters (sharded) -> SumValues
// Not for: launching processes (the worker does), or anything the store of results sees.
//
// Sharded optimizer state (ZeRO stage 1): each parameter tensor is owned by one rank
// (sweeps/memory.h ShardOwners, shared with the memory planner: largest first onto the least
// loaded rank, as PyTorch's ZeroRedundancyOptimizer partitions), which alone keeps its AdamW
// moments and updates it; the owners then broadcast the updated tensors. Gradients are summed whole on every rank (Gloo in LibTorch 1.13 has no
// reduce-scatter), so gradient memory does not shrink; optimizer memory does, as 1/world.
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <torch/version.h>

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

namespace sims::trainer {

// A collective that does not complete in this long fails the attempt. Longer than anything a
// rank does alone between two collectives (rank 0's evaluation and checkpoint), short enough
// that a stalled peer does not hold a worker for hours. A killed peer is seen at once: its
// sockets close.
inline constexpr int kCollectiveTimeoutSeconds = 900;

// A collective (or the rendezvous) failed: another rank died, failed, or did not answer in
// kCollectiveTimeoutSeconds. train.cpp turns it into the other rank's error or RankLost.
struct CollectiveError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// LibTorch 2.x split the collective backends (Gloo, NCCL) off ProcessGroup into Backend.
#if TORCH_VERSION_MAJOR >= 2
using CollectiveGroup = c10d::Backend;
#else
using CollectiveGroup = c10d::ProcessGroup;
#endif

// Rank 0: serve the store on `port` (0 = a free port, read back with StorePort); `host` is the
// address the others reach it at. Others: connect.
c10::intrusive_ptr<c10d::Store> ServeStore(const std::string& host, int port, int world);
c10::intrusive_ptr<c10d::Store> ConnectStore(const std::string& host, int port, int world);
int StorePort(const c10d::Store& store);


class Communicator {
 public:
  // Joins the process group: blocks until all `world` ranks have, or the timeout. `loopback`:
  // every rank is on this machine (the local backend), so Gloo talks over 127.0.0.1; else over
  // the address this host's name resolves to (a cluster).
  Communicator(c10::intrusive_ptr<c10d::Store> store, int rank, int world, torch::Device device,
               bool loopback);
  int rank() const { return rank_; }
  int world() const { return world_; }
  c10d::Store& store() { return *store_; }

  // grad += the other ranks' grads, for every parameter, in flat buckets of at most 25 MiB
  // (a larger tensor is a bucket alone), two in flight at a time.
  void SumGradients(const std::vector<torch::Tensor>& parameters);
  // Each value summed over the ranks (the step's loss, the stop votes): one small collective.
  std::vector<double> SumValues(const std::vector<double>& values);
  // Every rank gets rank `root`'s values of these tensors (same shapes everywhere).
  void Broadcast(const std::vector<torch::Tensor>& tensors, int root);
  // After a sharded step: every parameter takes its owner's values (each owner broadcasts its
  // tensors, bucket by bucket).
  void GatherParameters(const std::vector<torch::Tensor>& parameters,
                        const std::vector<int>& owners);
  // Point to point, for collecting optimizer state on rank 0 at a checkpoint.
  void Send(torch::Tensor tensor, int to);
  void Receive(torch::Tensor tensor, int from);

 private:
  // Starts a collective and waits for it; any failure becomes a CollectiveError.
  void Run(const std::function<c10::intrusive_ptr<c10d::Work>()>& start);

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<CollectiveGroup> group_;
  int rank_;
  int world_;
  torch::Device device_;
};

}  // namespace sims::trainer
