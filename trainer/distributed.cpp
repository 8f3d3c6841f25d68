#include "trainer/distributed.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef USE_C10D_NCCL
#include <torch/csrc/cuda/nccl.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "common/error.h"

namespace sims::trainer {
namespace {

// Gradients travel in flat buckets of at most this size: few enough collectives for the small
// demo models (one bucket), and a bounded extra buffer for large ones (DDP's default, 25 MiB).
constexpr int64_t kBucketBytes = 25 << 20;

std::chrono::milliseconds Timeout() { return std::chrono::seconds(kCollectiveTimeoutSeconds); }

void Wait(const c10::intrusive_ptr<c10d::Work>& work) {
  try {
    if (!work->wait(Timeout())) throw CollectiveError("a collective did not complete");
  } catch (const CollectiveError&) {
    throw;
  } catch (const std::exception& e) {
    throw CollectiveError(e.what());
  }
}

// Consecutive parameters grouped into buckets of at most kBucketBytes (a larger tensor alone).
std::vector<std::vector<torch::Tensor>> Buckets(const std::vector<torch::Tensor>& tensors) {
  std::vector<std::vector<torch::Tensor>> buckets;
  int64_t bytes = 0;
  for (const torch::Tensor& t : tensors) {
    const int64_t size = t.numel() * static_cast<int64_t>(t.element_size());
    if (buckets.empty() || (bytes + size > kBucketBytes && bytes > 0)) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(t);
    bytes += size;
  }
  return buckets;
}

torch::Tensor Flatten(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> flat;
  for (const torch::Tensor& t : tensors) flat.push_back(t.reshape({-1}));
  return torch::cat(flat);
}

void Unflatten(const torch::Tensor& flat, const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  int64_t offset = 0;
  for (const torch::Tensor& t : tensors) {
    t.copy_(flat.narrow(0, offset, t.numel()).view_as(t));
    offset += t.numel();
  }
}

#ifdef USE_C10D_NCCL
// ProcessGroupNCCL's layout depends on the nccl.h it is compiled with (ncclConfig_t by value,
// NCCL_VERSION_CODE branches): one other than LibTorch's corrupts memory silently. CMake picks
// the wheel's; this catches a LibTorch whose NCCL headers it could not find.
void CheckNcclHeaders() {
  const uint64_t torch_nccl = torch::cuda::nccl::version();  // major << 32 | minor << 16 | patch
  const uint64_t ours = (uint64_t{NCCL_MAJOR} << 32) | (uint64_t{NCCL_MINOR} << 16) | NCCL_PATCH;
  if (torch_nccl != ours) {
    throw UserError(fmt::format(
        "LibTorch uses NCCL {}.{}.{} but sims was compiled with nccl.h {}.{}.{}; hint: put the "
        "include directory of NCCL {}.{}.{} first (SIMS_NCCL_INCLUDE_DIR in trainer/"
        "CMakeLists.txt) and rebuild",
        torch_nccl >> 32, (torch_nccl >> 16) & 0xffff, torch_nccl & 0xffff, NCCL_MAJOR,
        NCCL_MINOR, NCCL_PATCH, torch_nccl >> 32, (torch_nccl >> 16) & 0xffff,
        torch_nccl & 0xffff));
  }
}
#endif

}  // namespace

c10::intrusive_ptr<c10d::Store> ServeStore(const std::string& host, int port, int world) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<uint16_t>(port);
  options.isServer = true;
  options.numWorkers = static_cast<size_t>(world);
  options.waitWorkers = false;  // the peers are started once the port is known
  options.timeout = Timeout();
  return c10::make_intrusive<c10d::TCPStore>(host, options);
}

c10::intrusive_ptr<c10d::Store> ConnectStore(const std::string& host, int port, int world) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<uint16_t>(port);
  options.numWorkers = static_cast<size_t>(world);
  options.waitWorkers = false;
  options.timeout = Timeout();
  try {
    return c10::make_intrusive<c10d::TCPStore>(host, options);
  } catch (const std::exception& e) {
    throw UserError(fmt::format("cannot reach rank 0's store at {}:{}: {}", host, port, e.what()));
  }
}

int StorePort(const c10d::Store& store) {
  return static_cast<const c10d::TCPStore&>(store).getPort();
}

Communicator::Communicator(c10::intrusive_ptr<c10d::Store> store, int rank, int world,
                           torch::Device device, bool loopback)
    : store_(std::move(store)), rank_(rank), world_(world), device_(device) {
  if (device.is_cuda()) {
#ifdef USE_C10D_NCCL
    CheckNcclHeaders();
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = Timeout();
    group_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(store_, rank, world, options);
    return;
#else
    throw UserError("ranks > 1 on CUDA needs a LibTorch built with NCCL; this one is not");
#endif
  }
#ifdef USE_C10D_GLOO
  auto options = c10d::ProcessGroupGloo::Options::create(Timeout());
  options->devices.push_back(loopback
                                 ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                 : c10d::ProcessGroupGloo::createDefaultDevice());
  try {
    group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, rank, world, options);
  } catch (const std::exception& e) {
    throw CollectiveError(fmt::format("rank {} of {} could not join the others: {}", rank, world,
                                      e.what()));
  }
#else
  (void)loopback;
  throw UserError("ranks > 1 on the CPU needs Gloo, and sims was built without its headers; "
                  "hint: install libgloo-dev and rebuild (trainer/CMakeLists.txt)");
#endif
}

void Communicator::Run(const std::function<c10::intrusive_ptr<c10d::Work>()>& start) {
  c10::intrusive_ptr<c10d::Work> work;
  try {
    work = start();
  } catch (const std::exception& e) {
    throw CollectiveError(e.what());
  }
  Wait(work);
}

void Communicator::SumGradients(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> grads;
  for (const torch::Tensor& p : parameters) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);  // unused this step
    grads.push_back(p.grad());
  }
  // Two buckets in flight: the next is summed while the last is copied back, and the flat
  // copies never exceed two buckets (a copy of every gradient at once would be the model's
  // size again: 28 GiB per rank at 7B).
  const std::vector<std::vector<torch::Tensor>> buckets = Buckets(grads);
  std::vector<torch::Tensor> flat(1), previous(1);
  c10::intrusive_ptr<c10d::Work> in_flight;
  for (size_t b = 0; b <= buckets.size(); ++b) {
    c10::intrusive_ptr<c10d::Work> started;
    if (b < buckets.size()) {
      flat = {Flatten(buckets[b])};
      try {
        started = group_->allreduce(flat);
      } catch (const std::exception& e) {
        throw CollectiveError(e.what());
      }
    }
    if (in_flight) {
      Wait(in_flight);
      Unflatten(previous[0], buckets[b - 1]);
    }
    in_flight = started;
    previous = flat;
  }
}

std::vector<double> Communicator::SumValues(const std::vector<double>& values) {
  std::vector<torch::Tensor> tensors = {
      torch::tensor(values, torch::kFloat64).to(device_)};
  Run([&] { return group_->allreduce(tensors); });
  torch::Tensor sums = tensors[0].cpu();
  return std::vector<double>(sums.data_ptr<double>(), sums.data_ptr<double>() + sums.numel());
}

void Communicator::Broadcast(const std::vector<torch::Tensor>& tensors, int root) {
  torch::NoGradGuard no_grad;
  for (const auto& bucket : Buckets(tensors)) {
    std::vector<torch::Tensor> flat = {Flatten(bucket)};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    Run([&] { return group_->broadcast(flat, options); });
    Unflatten(flat[0], bucket);
  }
}

void Communicator::GatherParameters(const std::vector<torch::Tensor>& parameters,
                                    const std::vector<int>& owners) {
  // Each owner broadcasts its tensors, a bucket at a time: the same bytes as an all-gather,
  // without its output of world x the largest shard (whole-tensor shards are uneven, and at
  // 512 ranks that buffer would be 512 copies of the embedding).
  std::vector<std::vector<torch::Tensor>> owned(static_cast<size_t>(world_));
  for (size_t i = 0; i < parameters.size(); ++i) {
    owned[static_cast<size_t>(owners[i])].push_back(parameters[i]);
  }
  for (int r = 0; r < world_; ++r) {
    if (!owned[static_cast<size_t>(r)].empty()) Broadcast(owned[static_cast<size_t>(r)], r);
  }
}

void Communicator::Send(torch::Tensor tensor, int to) {
  std::vector<torch::Tensor> tensors = {tensor.contiguous()};
  Run([&] { return group_->send(tensors, to, /*tag=*/0); });
}

void Communicator::Receive(torch::Tensor tensor, int from) {
  std::vector<torch::Tensor> tensors = {tensor};
  Run([&] { return group_->recv(tensors, from, /*tag=*/0); });
}

}  // namespace sims::trainer
