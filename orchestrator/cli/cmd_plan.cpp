// sims plan SPEC.toml: resolve a sweep file into runs and store the new ones (idempotent).
// The table view is for a researcher checking a design before spending compute: per condition,
// sizes as rows and budgets (or tokens-per-parameter ratios, or token counts) as columns, each
// cell the run's tokens per parameter; then how far 6ND is from the exact FLOP count per size.
// Given a GPU size (--gpu-memory or [sweep] gpu_memory), also each run's memory per rank
// (sweeps/memory.h), and a real plan refuses runs that do not fit.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/log.h"
#include "orchestrator/cli/commands.h"
#include "results/store.h"
#include "results/plan_store.h"
#include "sweeps/memory.h"
#include "sweeps/plan.h"

namespace sims {
namespace {

struct PlanOptions {
  std::string spec_path;
  bool dry_run = false;  // show what would be inserted, write nothing
  std::string corpus;    // replaces [sweep].corpus (relative to the working directory)
  double gpu_memory = 0;  // GiB per GPU, replacing [sweep] gpu_memory; 0 = the file's (if any)
  Format format = Format::kTable;
};

double GiB(int64_t bytes) { return static_cast<double>(bytes) / kGiB; }

// The estimate at the run's own ranks and micro-batch; with a GPU size, whether it fits and, if
// not, what would (or why nothing does).
nlohmann::json MemoryJson(const RunConfig& c, double gpu_memory_gib) {
  const RunMemory m = EstimateRunMemory(c);
  nlohmann::json j = {{"device", "cuda"},
                      {"ranks", c.hp.ranks},
                      {"micro_batch_tokens", c.hp.micro_batch_tokens},
                      {"weights_bytes", m.weights},
                      {"gradients_bytes", m.gradients},
                      {"optimizer_bytes", m.optimizer},
                      {"activations_bytes", m.activations},
                      {"collectives_bytes", m.collectives},
                      {"total_bytes", m.total}};
  if (gpu_memory_gib > 0) {
    const MemoryPlan plan = PlanMemory(c, gpu_memory_gib * kGiB);
    j["gpu_memory_gib"] = gpu_memory_gib;
    j["fits"] = FitsAsConfigured(c, plan);
    if (!FitsAsConfigured(c, plan) && plan.fits) {
      j["fits_with"] = {{"ranks", plan.ranks},
                        {"micro_batch_tokens", plan.micro_batch_tokens},
                        {"total_bytes", plan.memory.total}};
    }
    if (!plan.fits) j["refusal"] = plan.refusal;
  }
  return j;
}

nlohmann::json RunJson(const PlannedRun& r, bool is_new, double gpu_memory_gib) {
  const RunConfig& c = r.config;
  return {{"id", r.id},
          {"new", is_new},
          {"condition", c.condition},
          {"design", ToString(c.design)},
          {"size", r.size_label},
          {"column", r.column_label},
          {"n_params", c.n_params},
          {"n_params_non_embedding", c.n_params_non_embedding},
          {"shape",
           {{"layers", c.shape.layers},
            {"d_model", c.shape.d_model},
            {"heads", c.shape.heads},
            {"kv_heads", c.shape.kv_heads},
            {"d_ff", c.shape.d_ff},
            {"vocab_size", c.shape.vocab_size},
            {"tied_embeddings", c.shape.tied_embeddings}}},
          {"tokens", c.tokens},
          {"tokens_requested", r.tokens_requested},
          {"tokens_per_param", r.tokens_per_param},
          {"steps", c.steps},
          {"batch_tokens", c.hp.batch_tokens},
          {"lr", c.hp.lr},
          {"budget_flops", c.budget_flops},
          {"flops", c.flops},
          {"flops_6nd", c.flops_6nd},
          {"flops_exact", c.flops_exact},
          {"init",
           {{"kind", ToString(c.init.kind)},
            {"run_id", c.init.run_id},
            {"checkpoint_path", c.init.checkpoint_path}}},
          {"depends_on", c.depends_on},
          {"memory_per_rank", MemoryJson(c, gpu_memory_gib)}};
}

// Memory per rank, one row per size and memory-relevant settings (runs that differ only in
// tokens or lr share a row), in plan order: what each needs as configured and, when that does
// not fit the GPU, the fewest ranks / largest micro-batch that do, or the refusal.
void PrintMemoryTable(std::ostream& out, const SweepPlan& plan, double gpu_memory_gib) {
  struct Row {
    const PlannedRun* run;
    int runs;
  };
  auto same_memory = [](const RunConfig& a, const RunConfig& b) {
    return a.shape == b.shape && a.hp.context == b.hp.context &&
           a.hp.batch_tokens == b.hp.batch_tokens &&
           a.hp.micro_batch_tokens == b.hp.micro_batch_tokens && a.hp.ranks == b.hp.ranks &&
           a.hp.shard_optimizer == b.hp.shard_optimizer && a.hp.dtype == b.hp.dtype;
  };
  std::vector<Row> groups;
  for (const PlannedRun& r : plan.runs) {
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Row& g) {
      return g.run->size_label == r.size_label && same_memory(g.run->config, r.config);
    });
    if (it == groups.end()) {
      groups.push_back({&r, 1});
    } else {
      it->runs += 1;
    }
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> refusals;
  for (const Row& g : groups) {
    const RunConfig& c = g.run->config;
    const RunMemory m = EstimateRunMemory(c);
    const MemoryPlan fit = PlanMemory(c, gpu_memory_gib * kGiB);
    std::string verdict = "fits";
    if (!fit.fits) {
      verdict = "refused (below)";
      refusals.push_back(fmt::format("{} ({} runs): {}", g.run->size_label, g.runs, fit.refusal));
    } else if (!FitsAsConfigured(c, fit)) {
      verdict = fmt::format("ranks {}, micro_batch {}: {:.1f}", fit.ranks, fit.micro_batch_tokens,
                            GiB(fit.memory.total));
    }
    // Tenths of a GiB for GPU-sized runs, thousandths for the CPU demo's.
    auto gib = [](int64_t bytes) {
      return fmt::format("{:.{}f}", GiB(bytes), bytes < kGiB ? 3 : 1);
    };
    rows.push_back({g.run->size_label, std::to_string(g.runs), std::to_string(c.hp.ranks),
                    std::to_string(c.hp.micro_batch_tokens), gib(m.weights), gib(m.gradients),
                    gib(m.optimizer), gib(m.activations),
                    m.collectives > 0 ? gib(m.collectives) : "-", gib(m.total), verdict});
  }
  out << fmt::format(
      "memory per rank, GiB (bf16 autocast unless dtype = \"fp32\"; a run fits in {:.0f} % of the "
      "GPU's memory, docs/trainer.md \"Memory per rank\"):\n",
      100 * kUsableGpuFraction);
  PrintTable(out,
             {"size", "runs", "ranks", "micro_batch", "weights", "grads", "optimizer",
              "activations", "comm", "total", fmt::format("on {:g} GiB", gpu_memory_gib)},
             rows);
  for (const std::string& refusal : refusals) out << "refused " << refusal << '\n';
  out << '\n';
}

// One table per condition (text-lm included): rows = sizes, columns = the design's columns.
void PrintPlanTable(std::ostream& out, const SweepSpec& spec, const SweepPlan& plan,
                    const std::set<std::string>& new_ids) {
  std::vector<std::string> conditions;
  if (!plan.runs.empty() && plan.runs.front().config.condition == "text-lm") {
    conditions.push_back("text-lm");
  }
  for (const ConditionSpec& c : spec.conditions) conditions.push_back(c.name);

  for (const std::string& name : conditions) {
    std::vector<std::string> sizes, columns;
    std::map<std::pair<std::string, std::string>, std::string> cells;
    std::map<std::string, const PlannedRun*> first_of_size;
    auto note = [](std::vector<std::string>& list, const std::string& v) {
      if (std::find(list.begin(), list.end(), v) == list.end()) list.push_back(v);
    };
    if (name != "text-lm") {
      // Keep the file's order of sizes and columns, including fully skipped ones.
      for (const ConditionSpec& c : spec.conditions) {
        if (c.name != name) continue;
        for (const SizeSpec& s : c.design.sizes) note(sizes, s.label);
      }
    }
    int runs = 0, fresh = 0, skipped = 0;
    double flops = 0;
    for (const PlannedRun& r : plan.runs) {
      if (r.config.condition != name) continue;
      note(sizes, r.size_label);
      note(columns, r.column_label);
      const bool is_new = new_ids.count(r.id) > 0;
      cells[{r.size_label, r.column_label}] =
          fmt::format("{:.3g}{}", r.tokens_per_param, is_new ? "+" : "");
      if (!first_of_size.count(r.size_label)) first_of_size[r.size_label] = &r;
      ++runs;
      fresh += is_new;
      flops += r.config.flops;
    }
    for (const SkippedPoint& s : plan.skipped) {
      if (s.condition != name) continue;
      note(columns, s.column_label);
      cells[{s.size_label, s.column_label}] = "skip";
      ++skipped;
    }
    const ConditionSpec* cond = nullptr;
    for (const ConditionSpec& c : spec.conditions) {
      if (c.name == name) cond = &c;
    }
    if (cond) {
      out << fmt::format(
          "condition {} ({}, init {}, mixture text {:g} / speech {:g} / "
          "interleaved {:g}): {} runs, {} new, {} skipped, {:.3g} FLOPs ({})\n",
          name, ToString(cond->design.kind), ToString(cond->init), cond->mixture.text, cond->mixture.speech,
          cond->mixture.interleaved, runs, fresh, skipped, flops, ToString(spec.flops));
    } else {
      out << fmt::format(
          "condition text-lm (text LMs that init = \"text-lm\" starts from, text "
          "stream only): {} runs, {} new, {:.3g} FLOPs ({})\n",
          runs, fresh, flops, ToString(spec.flops));
    }
    const std::string column_kind = name == "text-lm"                        ? ""
                                    : !cond->design.budgets.empty()          ? "C="
                                    : !cond->design.tokens_per_param.empty() ? "D/N="
                                                                             : "D=";
    std::vector<std::string> header = {"size", "layers",    "d_model", "heads",
                                       "d_ff", "N_non_emb", "N_total"};
    for (const std::string& c : columns) header.push_back(column_kind + c);
    std::vector<std::vector<std::string>> rows;
    for (const std::string& size : sizes) {
      std::vector<std::string> row = {size};
      auto it = first_of_size.find(size);
      if (it != first_of_size.end()) {
        const RunConfig& c = it->second->config;
        for (int64_t v : {c.shape.layers, c.shape.d_model, c.shape.heads, c.shape.d_ff,
                          c.n_params_non_embedding, c.n_params}) {
          row.push_back(std::to_string(v));
        }
      } else {
        row.insert(row.end(), 6, "-");
      }
      for (const std::string& col : columns) {
        auto cell = cells.find({size, col});
        row.push_back(cell == cells.end() ? "" : cell->second);
      }
      rows.push_back(std::move(row));
    }
    PrintTable(out, header, rows);
    // How far the 6ND shortcut is from the exact count, per size (same tokens, so one ratio).
    std::string ratios;
    for (const std::string& size : sizes) {
      auto it = first_of_size.find(size);
      if (it == first_of_size.end()) continue;
      const RunConfig& c = it->second->config;
      ratios +=
          fmt::format("{}{} {:.2f}", ratios.empty() ? "" : ", ", size, c.flops_6nd / c.flops_exact);
    }
    out << fmt::format("6ND / exact FLOPs (N {} embeddings): {}\n\n",
                       spec.n_includes_embedding ? "with" : "without", ratios);
  }
  out << "cells: tokens per parameter (N " << (spec.n_includes_embedding ? "with" : "without")
      << " embeddings); + = not yet in the database; skip = point skipped (reasons below)\n";
  for (const SkippedPoint& s : plan.skipped) {
    out << fmt::format("skipped {} {} x {}: {}\n", s.condition, s.size_label, s.column_label,
                       s.reason);
  }
}

void RunPlan(PlanOptions options, const GlobalOptions& global, std::ostream& out) {
  // Load and plan before opening the store: a bad file must write nothing, not even the db.
  // A dry run previews a sweep whose checkpoints are not downloaded yet (warning per folder);
  // a real plan refuses it.
  const SweepSpec spec =
      ParseSweep(ReadSweepFile(options.spec_path), options.spec_path, options.corpus);
  if (options.dry_run) {
    for (const std::string& missing : MissingCheckpoints(spec)) {
      Log(LogLevel::kWarn, "{} (dry run: planned anyway)", missing);
    }
    CheckExistingFiles(spec);
  } else {
    CheckSweepFiles(spec);
  }
  const SweepPlan plan = PlanSweep(spec);
  if (options.gpu_memory == 0) options.gpu_memory = spec.gpu_memory_gib;
  if (options.gpu_memory > 0 && !options.dry_run) CheckPlanFits(plan, options.gpu_memory);
  StoreResult stored;
  if (options.dry_run && !std::filesystem::exists(global.db)) {
    for (const PlannedRun& r : plan.runs) stored.new_ids.push_back(r.id);  // no db: all new
  } else {
    Store store = Store::Open(global.db);
    stored = PlanIntoStore(store, plan, options.dry_run);
  }
  const std::set<std::string> new_ids(stored.new_ids.begin(), stored.new_ids.end());
  if (options.format == Format::kJson) {
    nlohmann::json array = nlohmann::json::array();
    for (const PlannedRun& r : plan.runs) {
      array.push_back(RunJson(r, new_ids.count(r.id) > 0, options.gpu_memory));
    }
    out << array.dump(2) << '\n';
  } else {
    PrintPlanTable(out, spec, plan, new_ids);
    if (options.gpu_memory > 0) PrintMemoryTable(out, plan, options.gpu_memory);
  }
  out.flush();  // the summary goes to stderr; keep it after the table on a terminal
  double exact = 0;
  for (const PlannedRun& r : plan.runs) exact += r.config.flops_exact;
  Log(LogLevel::kInfo, "sweep {}: {} runs, {} {}, {} already in {}, {} skipped; {:.3g} exact FLOPs",
      spec.name, plan.runs.size(), stored.new_ids.size(),
      options.dry_run ? "would be new (dry run, nothing written)" : "new",
      stored.existing_ids.size(), global.db, plan.skipped.size(), exact);
  if (!stored.execution_changed_ids.empty()) {
    Log(LogLevel::kInfo, "sweep {}: {} runs not done {} the new ranks / shard_optimizer", spec.name,
        stored.execution_changed_ids.size(), options.dry_run ? "would take" : "take");
  }
}

}  // namespace

void SetupPlanCommand(CLI::App* cmd, GlobalOptions& global) {
  auto options = std::make_shared<PlanOptions>();
  cmd->add_option("spec", options->spec_path, "Sweep file (TOML), see docs/sweep-file.md")
      ->required();
  cmd->add_flag("--dry-run", options->dry_run, "Show what would be inserted; write nothing");
  cmd->add_option("--corpus", options->corpus,
                  "Corpus directory, replacing [sweep].corpus (relative to the working directory)");
  cmd->add_option("--gpu-memory", options->gpu_memory,
                  "GiB per GPU (80 for an H100 80GB), replacing [sweep] gpu_memory: show each "
                  "run's memory per rank and what fits; without --dry-run, refuse runs that do not "
                  "fit at their ranks")
      ->check(CLI::Range(1e-3, 1e6));
  AddFormatOption(cmd, options->format, {"table", "json"});
  cmd->callback([options, &global] { RunPlan(*options, global, std::cout); });
}

}  // namespace sims
