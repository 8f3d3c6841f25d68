// sims bench train: training throughput of the C++ worker against a PyTorch eager reference
// (bench/train_reference.py) on the same shape, batch, context, dtype and thread count. One
// JSON object per preset (one line each), or a table:
//   {"preset", "shape", "batch", "context", "threads", "tokens_per_sec", "flops_per_sec",
//    "mfu" (GPU only), "peak_rss_mb", "device", "reference": {"name", "tokens_per_sec", ...},
//    "ratio" (sims / reference), "tokens_per_cpu_sec", "ratio_cpu" (the same in process CPU
//    time, which a busy shared machine distorts far less than wall time)}
// Without --preset it runs every demo size. The reference runs in a child process (the OS
// boundary), so its memory and threads do not mix with ours.
// With --ranks R it measures data-parallel scaling instead: the real training loop with 1 rank
// and with R ranks (`sims worker --peer` processes) on the same global batch, at the demo's
// largest size and width-10m unless --preset names one:
//   {"preset", "n_params", "ranks", "tokens_per_sec_1", "tokens_per_sec", "speedup",
//    "efficiency" (speedup / R), "optimizer_bytes_1", "optimizer_bytes" (the fullest rank's),
//    "optimizer_ratio"}
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/demo_files.h"
#include "orchestrator/queue/worker.h"
#include "trainer/bench.h"

namespace sims {
namespace {

struct BenchTrainOptions {
  std::string preset;           // empty = every demo-* preset
  std::string device = "";      // empty = the preset's (cpu for demo sizes, auto for gpt2-124m)
  int threads = 1;              // intra-op threads, for sims and the reference alike
  int64_t steps = 0;            // 0 = the preset's
  std::string python;           // empty = /usr/bin/python3 if it imports torch, else python3
  std::string reference_script; // empty = bench/train_reference.py next to the build dir
  bool reference = true;        // --no-reference: measure sims only
  double peak_tflops = 989;     // H100 SXM dense bf16, for MFU on CUDA; set yours
  int64_t ranks = 1;            // > 1: data-parallel scaling against 1 rank instead
  Format format = Format::kJson;
};

// The interpreter for the reference: Debian's python3-torch shares our LibTorch 1.13 and the
// system BLAS (the like-for-like peer); otherwise whatever python3 has torch (pip, MKL).
std::string DefaultPython() {
  if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0) {
    return "/usr/bin/python3";
  }
  return "python3";
}

std::string DefaultReferenceScript() {
  // build/sims -> <repo>/bench/train_reference.py (any build dir directly under the repo).
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe");
  return (exe.parent_path().parent_path() / "bench" / "train_reference.py").string();
}

std::string RunCapture(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("bench train: cannot start: " + command);
  std::string out;
  std::array<char, 4096> buffer;
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe.get())) out.append(buffer.data(), n);
  return out;
}

nlohmann::json RunReference(const BenchTrainOptions& o, const TrainBenchOptions& b,
                            const std::string& device) {
  const std::string script = o.reference_script.empty() ? DefaultReferenceScript()
                                                        : o.reference_script;
  if (!std::filesystem::exists(script)) {
    throw UserError(fmt::format("bench train: reference script {} not found; hint: pass "
                                "--reference-script or --no-reference", script));
  }
  const ModelShape& s = b.shape;
  // The BLAS pools are sized by the environment before Python starts: set from inside the
  // script, Debian's OpenBLAS kept a second thread spinning (CPU time = 2x wall on an idle
  // machine), which gave the reference a second core that sims does not use.
  const std::string command = fmt::format(
      "OPENBLAS_NUM_THREADS={} OMP_NUM_THREADS={} MKL_NUM_THREADS={} "
      "{} {} --layers {} --d-model {} --heads {} --kv-heads {} --d-ff {} --vocab {}{}{} "
      "--batch {} --context {} --warmup-steps {} --steps {} --min-seconds {} --threads {} "
      "--device {}",
      b.threads, b.threads, b.threads, o.python.empty() ? DefaultPython() : o.python, script, s.layers, s.d_model, s.heads,
      s.kv_heads, s.d_ff, s.vocab_size, s.tied_embeddings ? "" : " --untied",
      s.qkv_bias ? " --qkv-bias" : "", b.batch, b.context, b.warmup_steps, b.steps, b.min_seconds,
      b.threads, device);
  Log(LogLevel::kDebug, "bench train: {}", command);
  const std::string out = RunCapture(command);
  const size_t line = out.rfind("{\"name\"");
  if (line == std::string::npos) {
    throw std::runtime_error("bench train: the reference printed no result: " + command);
  }
  return nlohmann::json::parse(out.substr(line));
}

// The demo sizes come from the demo sweep built into sims, as `sims demo` runs it.
SweepSpec DemoSweep() {
  return ParseSweep(demo_files::kDemoCpu, "demo-cpu.toml (built into sims)");
}

// A preset as the command line changes it: --device, --steps, --threads.
TrainBenchOptions& WithCommandLine(TrainBenchOptions& b, const BenchTrainOptions& o) {
  if (!o.device.empty()) b.device = o.device;
  if (o.steps > 0) b.steps = o.steps;
  b.threads = o.threads;
  return b;
}

// A fresh directory under $TMPDIR for the benchmark's corpus and runs, removed afterwards.
class ScratchDirectory {
 public:
  ScratchDirectory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sims-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw UserError(fmt::format("bench train: cannot create a directory like {}", pattern));
    }
    path_ = pattern;
  }
  ~ScratchDirectory() {
    std::error_code ignored;  // best effort: a leftover temp directory harms nothing
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// --ranks R: 1 rank against R, through TrainRun and real peer processes.
void RunBenchTrainRanks(const BenchTrainOptions& o, const SweepSpec& demo, std::ostream& out) {
  std::vector<TrainBenchPreset> presets;
  if (!o.preset.empty()) {
    presets.push_back(FindTrainBenchPreset(demo, o.preset));
  } else {
    const std::vector<TrainBenchPreset> all = TrainBenchPresets(demo);
    for (auto p = all.rbegin(); p != all.rend(); ++p) {  // the demo's largest size: the last
      if (p->name.starts_with("demo-")) {
        presets.push_back(*p);
        break;
      }
    }
    presets.push_back(FindTrainBenchPreset(demo, "width-10m"));
  }
  std::vector<std::vector<std::string>> rows;
  for (TrainBenchPreset& preset : presets) {
    TrainBenchOptions& b = WithCommandLine(preset.options, o);
    // Every rank count must divide the batch: round it up to a multiple of R.
    b.batch = (b.batch + o.ranks - 1) / o.ranks * o.ranks;
    Log(LogLevel::kInfo, "bench train: {} with 1 and {} ranks", preset.name, o.ranks);
    ScratchDirectory work;
    std::vector<RanksBenchResult> results;
    {
      PeerRanks peers;  // reaped when this block ends
      results = BenchTrainRanks(b, {1, o.ranks}, work.path(),
                                [&](int64_t ranks, int port) { peers.Start(ranks, port); });
    }
    const RanksBenchResult& one = results[0];
    const RanksBenchResult& many = results[1];
    nlohmann::json j;
    j["preset"] = preset.name;
    j["n_params"] = one.n_params;
    j["ranks"] = o.ranks;
    j["batch"] = b.batch;
    j["context"] = b.context;
    j["threads_per_rank"] = b.threads;
    j["tokens_per_sec_1"] = one.tokens_per_sec;
    j["tokens_per_sec"] = many.tokens_per_sec;
    j["speedup"] = many.tokens_per_sec / one.tokens_per_sec;
    j["efficiency"] = j["speedup"].get<double>() / static_cast<double>(o.ranks);
    j["optimizer_bytes_1"] = one.optimizer_bytes;
    j["optimizer_bytes"] = many.optimizer_bytes;
    j["optimizer_ratio"] = many.optimizer_bytes / one.optimizer_bytes;
    if (o.format == Format::kJson) {
      out << j.dump() << std::endl;
    } else {
      rows.push_back({preset.name, std::to_string(one.n_params),
                      fmt::format("{:.0f}", one.tokens_per_sec),
                      fmt::format("{:.0f}", many.tokens_per_sec),
                      fmt::format("{:.2f}", j["efficiency"].get<double>()),
                      fmt::format("{:.2f}", j["optimizer_ratio"].get<double>())});
    }
  }
  if (o.format == Format::kTable) {
    PrintTable(out,
               {"preset", "params", "tokens/s 1 rank", fmt::format("tokens/s {} ranks", o.ranks),
                "efficiency", "optimizer bytes ratio"},
               rows);
  }
}

void RunBenchTrain(const BenchTrainOptions& o, std::ostream& out) {
  const SweepSpec demo = DemoSweep();
  if (o.ranks > 1) return RunBenchTrainRanks(o, demo, out);
  std::vector<TrainBenchPreset> presets;
  if (!o.preset.empty()) {
    presets.push_back(FindTrainBenchPreset(demo, o.preset));
  } else {
    for (const TrainBenchPreset& p : TrainBenchPresets(demo)) {
      if (p.name.starts_with("demo-")) presets.push_back(p);
    }
  }
  std::vector<std::vector<std::string>> rows;
  for (TrainBenchPreset& preset : presets) {
    TrainBenchOptions& b = WithCommandLine(preset.options, o);
    Log(LogLevel::kInfo, "bench train: {} ({} layers, d_model {})", preset.name, b.shape.layers,
        b.shape.d_model);
    const TrainBenchResult r = BenchTrain(b);
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);  // peak of this process so far (presets run smallest first)
    nlohmann::json j;
    j["preset"] = preset.name;
    j["shape"] = {{"layers", b.shape.layers},   {"d_model", b.shape.d_model},
                  {"heads", b.shape.heads},     {"kv_heads", b.shape.kv_heads},
                  {"d_ff", b.shape.d_ff},       {"vocab_size", b.shape.vocab_size},
                  {"tied_embeddings", b.shape.tied_embeddings}, {"n_params", r.n_params}};
    j["batch"] = b.batch;
    j["context"] = b.context;
    j["threads"] = b.threads;
    j["tokens_per_sec"] = r.tokens_per_sec;
    j["tokens_per_cpu_sec"] = r.tokens_per_cpu_sec;
    j["flops_per_sec"] = r.flops_per_sec;
    if (r.device == "cuda") j["mfu"] = r.flops_per_sec / (o.peak_tflops * 1e12);
    j["peak_rss_mb"] = static_cast<double>(usage.ru_maxrss) / 1024.0;
    j["device"] = r.device;
    std::string ref_text = "-", ratio_text = "-";
    if (o.reference) {
      nlohmann::json ref = RunReference(o, b, r.device);
      j["reference"] = ref;
      j["ratio"] = r.tokens_per_sec / ref.at("tokens_per_sec").get<double>();
      // The same ratio in CPU time: on a shared machine, the one to trust.
      j["ratio_cpu"] = r.tokens_per_cpu_sec / ref.at("tokens_per_cpu_sec").get<double>();
      ref_text = fmt::format("{:.0f}", ref.at("tokens_per_sec").get<double>());
      ratio_text = fmt::format("{:.2f} (cpu {:.2f})", j["ratio"].get<double>(),
                               j["ratio_cpu"].get<double>());
    }
    if (o.format == Format::kJson) {
      out << j.dump() << std::endl;  // one line per preset, as soon as it is measured
    } else {
      rows.push_back({preset.name, std::to_string(r.n_params), r.device,
                      fmt::format("{:.0f}", r.tokens_per_sec),
                      fmt::format("{:.2f}", r.flops_per_sec / 1e9), ref_text, ratio_text,
                      fmt::format("{:.0f}", j["peak_rss_mb"].get<double>())});
    }
  }
  if (o.format == Format::kTable) {
    PrintTable(out, {"preset", "params", "device", "tokens/s", "GFLOP/s", "reference tokens/s",
                     "ratio", "peak RSS MB"},
               rows);
  }
}

}  // namespace

// Called by `sims bench` (cmd_bench.cpp) with its `train` subcommand.
void SetupBenchTrainCommand(CLI::App* cmd, GlobalOptions& /*global*/) {
  auto options = std::make_shared<BenchTrainOptions>();
  std::string names;
  for (const TrainBenchPreset& p : TrainBenchPresets(DemoSweep())) {
    names += (names.empty() ? "" : " | ") + p.name;
  }
  cmd->add_option("--preset", options->preset,
                  names + " (default: every demo size, i.e. every size of sims demo's sweep)");
  cmd->add_option("--device", options->device, "cpu | cuda | auto (default: the preset's)");
  cmd->add_option("--threads", options->threads, "intra-op threads (sims and the reference)")
      ->capture_default_str();
  cmd->add_option("--steps", options->steps, "timed steps (default: the preset's)");
  cmd->add_option("--python", options->python,
                  "interpreter of the reference (default: /usr/bin/python3 with Debian's "
                  "python3-torch if present, else python3)");
  cmd->add_option("--reference-script", options->reference_script,
                  "path of bench/train_reference.py (default: found next to the build dir)");
  cmd->add_flag("--no-reference{false}", options->reference, "measure sims only");
  cmd->add_option("--peak-tflops", options->peak_tflops,
                  "the card's dense bf16 peak for MFU (H100 SXM 989, H200 989, A100 312)")
      ->capture_default_str();
  cmd->add_option("--ranks", options->ranks,
                  "measure data-parallel scaling: 1 rank against this many (threads each), at "
                  "the demo's largest size and width-10m unless --preset names one")
      ->check(CLI::Range(int64_t{1}, int64_t{64}));
  AddFormatOption(cmd, options->format, {"json", "table"});
  cmd->callback([options] { RunBenchTrain(*options, std::cout); });
}

}  // namespace sims
