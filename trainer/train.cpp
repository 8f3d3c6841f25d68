// TrainRun: one planned run, top to bottom in one function, so the order of a step is visible
// in one place. The loop per optimizer step:
//   set lr -> forward/backward over the micro-batches -> non-finite guard -> clip -> step ->
//   log -> evaluate (every eval_every steps and at the end) -> checkpoint -> stop check.
#include "trainer/train.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "common/error.h"
#include "common/log.h"
#include "sweeps/memory.h"
#include "trainer/checkpoint.h"
#include "trainer/corpus/vocab.h"
#include "trainer/data.h"
#include "trainer/distributed.h"
#include "trainer/hf_model.h"
#include "trainer/model.h"
#include "trainer/optim.h"
#include "trainer/scoring.h"
#include "trainer/torch_compat.h"

namespace sims {
namespace {
using namespace sims::trainer;

// Validation: at most this many tokens per stream (the same windows at every evaluation).
constexpr int64_t kValidationTokens = 16384;
// Rows of an evaluation forward pass.
constexpr int64_t kEvalBatchRows = 16;

torch::Device ResolveDevice(const std::string& device) {
  if (device == "cpu") return torch::kCPU;
  if (device == "cuda") {
    if (!torch::cuda::is_available()) {
      // Two different fixes: a CPU-only LibTorch needs another build, a CUDA one a visible GPU.
      throw UserError(std::string("--device cuda: no CUDA device is visible (") +
                      (at::hasCUDA() ? "this LibTorch has CUDA; CUDA_VISIBLE_DEVICES or the "
                                       "driver hides every GPU"
                                     : "this LibTorch build is CPU-only") +
                      "); hint: use --device cpu or auto");
    }
    return torch::kCUDA;
  }
  if (device == "auto") return torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  throw UserError(fmt::format("device '{}' is not cpu, cuda or auto", device));
}

struct RunContext {
  const std::string& run_id;
  const RunConfig& config;
  const TrainHooks& hooks;
  torch::Device device;
  bool autocast;
};

MetricRow Metric(const RunContext& rc, int64_t step, int64_t tokens, const std::string& name,
                 double value) {
  return MetricRow{rc.run_id, step, tokens, name, value};
}

// Validation losses per stream and pair accuracies of every pair set the corpus has.
void Evaluate(const RunContext& rc, Decoder& model, const std::vector<ValidationSet>& validation,
              const corpus::Vocabulary& vocab, const std::vector<corpus::PairSet>& pair_sets,
              int64_t step, int64_t tokens) {
  torch::NoGradGuard no_grad;
  const auto started = std::chrono::steady_clock::now();
  model->eval();
  std::vector<MetricRow> metrics;
  for (const ValidationSet& set : validation) {
    double loss_sum = 0;
    const int64_t n = set.windows.size(0);
    for (int64_t first = 0; first < n; first += kEvalBatchRows) {
      const int64_t rows = std::min(kEvalBatchRows, n - first);
      AutocastBf16 autocast(rc.autocast);
      torch::Tensor loss = NextTokenLoss(model, set.windows.narrow(0, first, rows).to(rc.device));
      loss_sum += loss.item<double>() * static_cast<double>(rows);
    }
    metrics.push_back(Metric(rc, step, tokens, "val/loss/" + set.stream, loss_sum / n));
  }
  std::vector<EvalRow> evals;
  ScoringOptions scoring;
  scoring.batch = kEvalBatchRows;
  scoring.max_tokens = rc.config.hp.context;
  scoring.mean = rc.config.hp.eval_score == EvalScore::kMean;
  for (const corpus::PairSet& set : pair_sets) {
    AutocastBf16 autocast(rc.autocast);
    PairAccuracy accuracy = ScorePairs(model, vocab, set, scoring);
    evals.push_back(EvalRow{rc.run_id, step, set.task, accuracy.accuracy, accuracy.n_pairs});
    // Speech continuations (".../speech", ".../text2speech") also scored over units only.
    if (rc.config.hp.eval_unit_only && set.task.ends_with("speech")) {
      ScoringOptions units = scoring;
      units.unit_only = true;
      accuracy = ScorePairs(model, vocab, set, units);
      evals.push_back(
          EvalRow{rc.run_id, step, set.task + "/unit-only", accuracy.accuracy, accuracy.n_pairs});
    }
  }
  model->train();
  Log(LogLevel::kDebug, "run {}: evaluation at step {} took {:.2f} s", rc.run_id, step,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (rc.hooks.emit) rc.hooks.emit(metrics, evals);
}

// The first `max_pairs` pairs of each task the corpus has (0 = all). The default 200 keeps the
// standard error of an accuracy <= 0.035; measured on the demo corpus, 10 tasks x 500 pairs took
// ~80 % of a 16-step demo run's CPU time (~3.5 of 4.3 s) and 200 pairs cut that 2.5x.
std::vector<corpus::PairSet> LoadPairSets(const std::string& corpus_dir, int64_t max_pairs) {
  std::vector<corpus::PairSet> sets;
  for (const std::string& task : corpus::PairTasks()) {
    if (!std::filesystem::exists(std::filesystem::path(corpus_dir) /
                                 corpus::PairSetRelativePath(task))) {
      continue;  // a corpus may carry only some tasks (e.g. a text-only import)
    }
    corpus::PairSet set = corpus::LoadPairSet(corpus_dir, task);
    if (max_pairs > 0 && set.pairs.size() > static_cast<size_t>(max_pairs)) {
      set.pairs.resize(static_cast<size_t>(max_pairs));
    }
    sets.push_back(std::move(set));
  }
  return sets;
}

// How this process takes part in its run: alone (no communicator), or as one of several ranks.
struct Ranks {
  std::unique_ptr<Communicator> comm;
  std::vector<int> owners;  // owner rank per parameter when the optimizer state is sharded
  int rank() const { return comm ? comm->rank() : 0; }
  int world() const { return comm ? comm->world() : 1; }
  bool sharded() const { return !owners.empty(); }
};

// The AdamW state of every parameter, for a checkpoint. Sharded: the owners send their slots to
// rank 0, which alone returns them complete (every rank must call this at the same step).
std::vector<AdamWSlot> CollectOptimizer(Ranks& ranks, torch::optim::AdamW& optimizer,
                                        Decoder& model) {
  std::vector<AdamWSlot> slots = ReadAdamW(optimizer, model);
  if (!ranks.sharded()) return slots;
  const std::vector<torch::Tensor> parameters = model->parameters();
  for (size_t i = 0; i < slots.size(); ++i) {
    const int owner = ranks.owners[i];
    if (owner == 0) continue;
    torch::Tensor step = torch::tensor({slots[i].step}, torch::kInt64).to(parameters[i].device());
    if (ranks.rank() == owner) {
      ranks.comm->Send(step, 0);
      if (slots[i].step > 0) {
        ranks.comm->Send(slots[i].exp_avg, 0);
        ranks.comm->Send(slots[i].exp_avg_sq, 0);
      }
    } else if (ranks.rank() == 0) {
      ranks.comm->Receive(step, owner);
      slots[i].step = step.cpu().item<int64_t>();
      if (slots[i].step > 0) {
        slots[i].exp_avg = torch::empty_like(parameters[i]);
        slots[i].exp_avg_sq = torch::empty_like(parameters[i]);
        ranks.comm->Receive(slots[i].exp_avg, owner);
        ranks.comm->Receive(slots[i].exp_avg_sq, owner);
      }
    }
  }
  return slots;
}

// Bytes of AdamW moments held by the rank that holds the most (every rank must call this).
double OptimizerBytesPerRank(Ranks& ranks, torch::optim::AdamW& optimizer, Decoder& model) {
  double mine = 0;
  for (const AdamWSlot& slot : ReadAdamW(optimizer, model)) {
    if (slot.step == 0) continue;
    mine += static_cast<double>(slot.exp_avg.numel() * slot.exp_avg.element_size() +
                                slot.exp_avg_sq.numel() * slot.exp_avg_sq.element_size());
  }
  if (!ranks.comm) return mine;
  std::vector<double> each(static_cast<size_t>(ranks.world()), 0.0);
  each[static_cast<size_t>(ranks.rank())] = mine;
  each = ranks.comm->SumValues(each);
  return *std::max_element(each.begin(), each.end());
}

TrainOutcome Train(const std::string& run_id, const RunConfig& config, const TrainEnvironment& env,
                   const TrainHooks& hooks, c10::intrusive_ptr<c10d::Store> store,
                   const std::optional<std::string>& resume_from) {
  Validate(config, "run " + run_id);
  const Hyperparameters& hp = config.hp;
  SetComputeThreads(env.threads);
  torch::Device device = ResolveDevice(env.device);
  if (device.is_cuda() && hp.ranks > 1) {
    device = torch::Device(
        torch::kCUDA,
        static_cast<c10::DeviceIndex>(env.distributed.local_rank % torch::cuda::device_count()));
  }
  const bool autocast = device.is_cuda() && hp.dtype != Dtype::kFp32;
  Ranks ranks;
  if (hp.ranks > 1) {
    // Joined before anything slow or fallible (data, weights), so a rank that fails later is
    // seen by the others through the group, not by a rendezvous that waits for it.
    ranks.comm = std::make_unique<Communicator>(store, env.distributed.rank,
                                                static_cast<int>(hp.ranks), device,
                                                !env.distributed.peers_started_elsewhere);
  }
  // Rank 0 writes metrics, evaluations and checkpoints; the other ranks' hooks only stop.
  const bool lead = ranks.rank() == 0;
  Log(lead ? LogLevel::kInfo : LogLevel::kDebug, "run {}: training on {} ({}{})", run_id,
      device.str(), autocast ? "bf16 autocast" : "fp32",
      hp.ranks > 1 ? fmt::format(", rank {} of {}{}", ranks.rank(), hp.ranks,
                                 hp.shard_optimizer ? ", sharded optimizer state" : "")
                   : "");
  RunContext rc{run_id, config, hooks, device, autocast};

  const corpus::Vocabulary vocab = corpus::LoadVocabulary(env.corpus_dir);
  if (vocab.vocab_size > config.shape.vocab_size) {
    throw UserError(fmt::format("run {}: corpus {} has vocab_size {} but the model's is {}; "
                                "hint: set vocab_size in the sweep file to at least {}",
                                run_id, env.corpus_dir, vocab.vocab_size, config.shape.vocab_size,
                                vocab.vocab_size));
  }
  MixtureSampler sampler(env.corpus_dir, vocab.hash, config.mixture, hp.context, config.seed);
  std::vector<ValidationSet> validation;
  std::vector<corpus::PairSet> pair_sets;
  if (lead) {
    validation = LoadValidationSets(env.corpus_dir, vocab.hash, hp.context,
                                    std::max<int64_t>(1, kValidationTokens / hp.context));
    pair_sets = LoadPairSets(env.corpus_dir, config.hp.eval_pairs);
  }

  DecoderOptions model_options;
  model_options.shape = config.shape;
  if (config.init.kind == InitKind::kCheckpoint) {  // its rope and epsilon; its shape, checked
    model_options = hf::CheckpointRunOptions(run_id, config.init.checkpoint_path, config.shape);
  }
  Decoder model = MakeDecoder(model_options, config.seed, device);
  std::vector<torch::Tensor> parameters = model->parameters();
  std::vector<bool> mine;  // the parameters this rank's optimizer updates (empty: all)
  if (hp.ranks > 1 && hp.shard_optimizer) {
    std::vector<int64_t> numels;
    for (const torch::Tensor& p : parameters) numels.push_back(p.numel());
    ranks.owners = ShardOwners(numels, ranks.world());
    for (int owner : ranks.owners) mine.push_back(owner == ranks.rank());
  }
  auto optimizer = MakeAdamW(model, hp, mine);

  TrainState state;
  if (resume_from) {
    LoadedCheckpoint loaded = LoadCheckpoint(*resume_from, run_id, model, hp);
    state = loaded.state;
    WriteAdamW(*optimizer, model, loaded.optimizer);
    Log(lead ? LogLevel::kInfo : LogLevel::kDebug, "run {}: resuming at step {} from {}", run_id,
        state.step, *resume_from);
  } else if (config.init.kind == InitKind::kTextLm) {
    LoadWeights(env.init_weights, model);  // unit and marker rows included: see checkpoint.h
  } else if (config.init.kind == InitKind::kCheckpoint) {  // a Hugging Face directory (trainer/hf)
    hf::InitFromCheckpoint(config.init.checkpoint_path, vocab, *model, config.seed);
  }  // scratch: the model as built
  if (ranks.comm) ranks.comm->Broadcast(parameters, 0);  // one start, whatever each rank built

  // The global batch is micro_steps micro-batches; rank r takes the consecutive share
  // [r * per_rank, (r + 1) * per_rank), so sample i is drawn by one rank whatever the ranks.
  const int64_t rows_per_micro = hp.micro_batch_tokens / hp.context;
  const int64_t micro_steps = hp.batch_tokens / hp.micro_batch_tokens;
  const int64_t per_rank = micro_steps / ranks.world();
  int64_t last_checkpoint = state.step;
  const auto checkpoint = [&] {
    std::vector<AdamWSlot> slots = CollectOptimizer(ranks, *optimizer, model);
    if (lead) SaveCheckpoint(env.run_dir, run_id, state, model, slots, env.keep_checkpoints);
    last_checkpoint = state.step;
  };
  bool first_step = true;
  double optimizer_bytes = 0;
  model->train();
  while (state.step < config.steps) {
    const auto started = std::chrono::steady_clock::now();
    const double lr = LearningRate(state.step, config.steps, hp);
    SetLearningRate(*optimizer, lr);

    model->zero_grad();
    double loss_sum = 0;
    for (int64_t micro = ranks.rank() * per_rank; micro < (ranks.rank() + 1) * per_rank; ++micro) {
      torch::Tensor batch =
          sampler.Batch(state.samples + micro * rows_per_micro, rows_per_micro).to(device);
      torch::Tensor loss;
      {
        AutocastBf16 guard(autocast);
        loss = NextTokenLoss(model, batch) / static_cast<double>(micro_steps);
      }
      loss.backward();
      loss_sum += loss.item<double>();
    }
    state.samples += micro_steps * rows_per_micro;
    const auto computed = std::chrono::steady_clock::now();
    if (ranks.comm) {
      loss_sum = ranks.comm->SumValues({loss_sum})[0];
      ranks.comm->SumGradients(parameters);
    }
    const auto summed = std::chrono::steady_clock::now();
    if (!std::isfinite(loss_sum)) {
      throw std::runtime_error(fmt::format(
          "run {}: step {}: training loss is {} (non-finite); hint: lower hp.lr or hp.clip",
          run_id, state.step + 1, loss_sum));
    }
    const double grad_norm =
        torch::nn::utils::clip_grad_norm_(parameters, hp.clip > 0 ? hp.clip : 1e30);
    optimizer->step();
    const auto stepped = std::chrono::steady_clock::now();
    if (ranks.sharded()) ranks.comm->GatherParameters(parameters, ranks.owners);
    if (ranks.comm) {  // where a step's time goes, for a run that scales badly (--log-level debug)
      const auto seconds = [](auto a, auto b) {
        return std::chrono::duration<double>(b - a).count();
      };
      Log(LogLevel::kDebug,
          "run {}: rank {}: step {}: compute {:.3f} s, sum {:.3f} s, optimizer {:.3f} s, "
          "gather {:.3f} s",
          run_id, ranks.rank(), state.step + 1, seconds(started, computed),
          seconds(computed, summed), seconds(summed, stepped),
          seconds(stepped, std::chrono::steady_clock::now()));
    }
    if (first_step) optimizer_bytes = OptimizerBytesPerRank(ranks, *optimizer, model);
    state.step += 1;
    state.tokens += hp.batch_tokens;

    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (hooks.emit && first_step) {
      // Once per attempt: the AdamW state the fullest rank holds (the memory planner's term).
      hooks.emit({Metric(rc, state.step, state.tokens, "train/optimizer_bytes", optimizer_bytes)},
                 {});
    }
    first_step = false;
    if (hooks.emit) {
      hooks.emit({Metric(rc, state.step, state.tokens, "train/loss", loss_sum),
                     Metric(rc, state.step, state.tokens, "train/lr", lr),
                     Metric(rc, state.step, state.tokens, "train/grad_norm", grad_norm),
                     Metric(rc, state.step, state.tokens, "train/tokens_per_sec",
                            static_cast<double>(hp.batch_tokens) / std::max(seconds, 1e-9)),
                     Metric(rc, state.step, state.tokens, "train/tokens",
                            static_cast<double>(state.tokens))},
                    {});
    }
    if (hooks.progress) hooks.progress(state.step);

    const bool last = state.step == config.steps;
    const bool evaluate = last || (hp.eval_every > 0 && state.step % hp.eval_every == 0);
    if (evaluate && lead)
      Evaluate(rc, model, validation, vocab, pair_sets, state.step, state.tokens);
    if (env.checkpoint_every > 0 ? state.step % env.checkpoint_every == 0 : evaluate) checkpoint();
    // Every rank stops at the same step: a stop asked of any rank (its signal, rank 0's lease)
    // is voted on.
    bool stop = !last && hooks.stop_requested && hooks.stop_requested();
    if (!last && ranks.comm) stop = ranks.comm->SumValues({stop ? 1.0 : 0.0})[0] > 0;
    if (stop) {
      if (last_checkpoint != state.step) checkpoint();
      Log(lead ? LogLevel::kInfo : LogLevel::kDebug,
          "run {}: stopped at step {} (checkpoint written)", run_id, state.step);
      return TrainOutcome::kStopped;
    }
  }
  if (state.tokens != config.tokens) {
    throw std::runtime_error(fmt::format("run {}: consumed {} training tokens, planned {}",
                                         run_id, state.tokens, config.tokens));
  }
  if (lead) SaveWeights(FinalWeightsPath(env.run_dir), run_id, model);
  return TrainOutcome::kFinished;
}

// What rank 0 publishes in the store for the other ranks: everything TrainPeer needs.
constexpr const char* kRunKey = "sims/run";
std::string ErrorKey(int rank) { return fmt::format("sims/error/{}", rank); }

void Publish(c10d::Store& store, const std::string& run_id, const RunConfig& config,
             const TrainEnvironment& env, const std::optional<std::string>& resume_from) {
  const nlohmann::json run = {{"run_id", run_id},
                              {"config", ToJson(config)},
                              {"run_dir", env.run_dir},
                              {"corpus_dir", env.corpus_dir},
                              {"init_weights", env.init_weights},
                              {"device", env.device},
                              {"threads", env.threads},
                              {"checkpoint_every", env.checkpoint_every},
                              {"resume_from", resume_from.value_or("")}};
  const std::string text = run.dump();
  store.set(kRunKey, std::vector<uint8_t>(text.begin(), text.end()));
}

// Rank 0, after a collective failed: the error another rank posted before it exited, or
// RankLost when none did (it was killed). Waits briefly, as a post may trail the closed socket.
[[noreturn]] void ExplainCollectiveFailure(c10d::Store& store, const std::string& run_id,
                                           int64_t world, const std::string& cause) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    for (int r = 1; r < world; ++r) {
      if (store.check({ErrorKey(r)})) {
        const std::vector<uint8_t> text = store.get(ErrorKey(r));
        throw std::runtime_error(
            fmt::format("run {}: rank {} of {} failed: {}", run_id, r, world,
                        std::string(text.begin(), text.end())));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw RankLost(fmt::format("run {}: a rank of {} stopped answering ({}); this attempt is lost",
                             run_id, world, cause.substr(0, cause.find('\n'))));
}

TrainOutcome TrainLead(const std::string& run_id, const RunConfig& config,
                       const TrainEnvironment& env, const TrainHooks& hooks) {
  const std::optional<std::string> resume_from = NewestCheckpoint(env.run_dir);
  if (config.hp.ranks == 1) return Train(run_id, config, env, hooks, {}, resume_from);
  auto store = ServeStore(env.distributed.store_host, env.distributed.store_port,
                          static_cast<int>(config.hp.ranks));
  Publish(*store, run_id, config, env, resume_from);
  if (!env.distributed.peers_started_elsewhere) {
    if (!hooks.start_peers) {
      throw std::logic_error("TrainRun: ranks > 1 and nobody to start the other ranks");
    }
    hooks.start_peers(StorePort(*store));
  }
  try {
    return Train(run_id, config, env, hooks, store, resume_from);
  } catch (const CollectiveError& e) {
    ExplainCollectiveFailure(*store, run_id, config.hp.ranks, e.what());
  }
}

// LibTorch errors (out of memory, a shape mismatch) carry a backtrace; keep the first line and
// name the run, as the worker stores the message as the run's error.
template <typename F>
auto WithRunErrors(const std::string& run_id, F&& body) {
  try {
    return body();
  } catch (const c10::Error& e) {
    std::string message = e.what_without_backtrace();
    throw std::runtime_error(fmt::format("run {}: {}", run_id, message.substr(0, message.find('\n'))));
  }
}

}  // namespace

std::string FinalWeightsPath(const std::string& run_dir) {
  return (std::filesystem::path(run_dir) / "final.pt").string();
}

TrainOutcome TrainRun(const std::string& run_id, const RunConfig& config,
                      const TrainEnvironment& env, const TrainHooks& hooks) {
  return WithRunErrors(run_id, [&] { return TrainLead(run_id, config, env, hooks); });
}

void TrainPeer(const DistributedSpec& spec, const std::atomic<bool>& stop) {
  if (spec.rank < 1) throw std::logic_error("TrainPeer: rank 0 trains with TrainRun");
  // The world size is in the config, which is in the store: connect without it first.
  auto store = ConnectStore(spec.store_host, spec.store_port, /*world=*/0);
  const std::vector<uint8_t> bytes = store->get(kRunKey);
  const nlohmann::json run = nlohmann::json::parse(std::string(bytes.begin(), bytes.end()));
  const std::string run_id = run.at("run_id").get<std::string>();
  try {
    const RunConfig config = RunConfigFromJson(run.at("config"));
    TrainEnvironment env;
    env.run_dir = run.at("run_dir").get<std::string>();
    env.corpus_dir = run.at("corpus_dir").get<std::string>();
    env.init_weights = run.at("init_weights").get<std::string>();
    env.device = run.at("device").get<std::string>();
    env.threads = run.at("threads").get<int>();
    env.checkpoint_every = run.at("checkpoint_every").get<int64_t>();
    env.distributed = spec;
    const std::string resume = run.at("resume_from").get<std::string>();
    TrainHooks hooks;
    hooks.stop_requested = [&] { return stop.load(); };
    WithRunErrors(run_id, [&] {
      return Train(run_id, config, env, hooks, store,
                   resume.empty() ? std::nullopt : std::optional<std::string>(resume));
    });
  } catch (const CollectiveError&) {
    throw;  // rank 0 is gone or failed: it reports the run
  } catch (const std::exception& e) {
    const std::string text = e.what();
    store->set(ErrorKey(spec.rank), std::vector<uint8_t>(text.begin(), text.end()));
    throw;
  }
}

}  // namespace sims
