#include "trainer/distributed.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include <fmt/format.h>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
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

std::vector<int> ShardOwners(const std::vector<int64_t>& numels, int world) {
  std::vector<size_t> order(numels.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return numels[a] > numels[b]; });
  std::vector<int64_t> load(static_cast<size_t>(world), 0);
  std::vector<int> owners(numels.size(), 0);
  for (size_t i : order) {
    const auto lightest = std::min_element(load.begin(), load.end()) - load.begin();
    owners[i] = static_cast<int>(lightest);
    load[static_cast<size_t>(lightest)] += numels[i];
  }
  return owners;
}

Communicator::Communicator(c10::intrusive_ptr<c10d::Store> store, int rank, int world,
                           torch::Device device, bool loopback)
    : store_(std::move(store)), rank_(rank), world_(world), device_(device) {
  if (device.is_cuda()) {
#ifdef USE_C10D_NCCL
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = Timeout();
    group_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(store_, rank, world, options);
    return;
#else
    throw UserError("ranks > 1 on CUDA needs a LibTorch built with NCCL; this one is not");
#endif
  }
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
  std::vector<std::vector<torch::Tensor>> buckets = Buckets(grads);
  std::vector<std::vector<torch::Tensor>> flats;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (const auto& bucket : buckets) flats.push_back({Flatten(bucket)});
  try {
    for (auto& flat : flats) works.push_back(group_->allreduce(flat));
  } catch (const std::exception& e) {
    throw CollectiveError(e.what());
  }
  for (size_t b = 0; b < buckets.size(); ++b) {
    Wait(works[b]);
    Unflatten(flats[b][0], buckets[b]);
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
  torch::NoGradGuard no_grad;
  std::vector<std::vector<torch::Tensor>> owned(static_cast<size_t>(world_));
  for (size_t i = 0; i < parameters.size(); ++i) {
    owned[static_cast<size_t>(owners[i])].push_back(parameters[i]);
  }
  int64_t longest = 0;
  std::vector<int64_t> lengths;
  for (const auto& shard : owned) {
    int64_t n = 0;
    for (const torch::Tensor& t : shard) n += t.numel();
    lengths.push_back(n);
    longest = std::max(longest, n);
  }
  // all-gather needs equal sizes: each shard is padded to the longest.
  torch::Tensor mine = torch::zeros({longest}, parameters.front().options());
  if (lengths[static_cast<size_t>(rank_)] > 0) {
    mine.narrow(0, 0, lengths[static_cast<size_t>(rank_)]).copy_(Flatten(owned[static_cast<size_t>(rank_)]));
  }
  std::vector<torch::Tensor> input = {mine};
  std::vector<std::vector<torch::Tensor>> output(1);
  for (int r = 0; r < world_; ++r) output[0].push_back(torch::empty_like(mine));
  Run([&] { return group_->allgather(output, input); });
  for (int r = 0; r < world_; ++r) {
    if (r == rank_ || lengths[static_cast<size_t>(r)] == 0) continue;
    Unflatten(output[0][static_cast<size_t>(r)].narrow(0, 0, lengths[static_cast<size_t>(r)]),
              owned[static_cast<size_t>(r)]);
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
