#pragma once
// The Setup functions of every subcommand; main.cpp lists them in its table.
#include "orchestrator/cli/cli.h"

namespace sims {

void SetupCorpusCommand(CLI::App* cmd, GlobalOptions& global);
void SetupPlanCommand(CLI::App* cmd, GlobalOptions& global);
void SetupExportCommand(CLI::App* cmd, GlobalOptions& global);
void SetupRunCommand(CLI::App* cmd, GlobalOptions& global);
void SetupStatusCommand(CLI::App* cmd, GlobalOptions& global);
void SetupRunsCommand(CLI::App* cmd, GlobalOptions& global);
void SetupIngestCommand(CLI::App* cmd, GlobalOptions& global);
void SetupWorkerCommand(CLI::App* cmd, GlobalOptions& global);
// Hugging Face checkpoints (orchestrator/cli/cmd_hf.cpp); export-hf needs SIMS_WITH_TORCH.
void SetupImportSpeechCommand(CLI::App* cmd, GlobalOptions& global);
void SetupExportHfCommand(CLI::App* cmd, GlobalOptions& global);
// Fitting (orchestrator/cli/cmd_fit.cpp, cmd_compare.cpp, cmd_recommend.cpp, cmd_import.cpp,
// cmd_bench.cpp: `bench` with its `fit` subcommand, and `train` under SIMS_WITH_TORCH).
void SetupFitCommand(CLI::App* cmd, GlobalOptions& global);
void SetupCompareCommand(CLI::App* cmd, GlobalOptions& global);
void SetupRecommendCommand(CLI::App* cmd, GlobalOptions& global);
void SetupSuggestCommand(CLI::App* cmd, GlobalOptions& global);
void SetupImportCommand(CLI::App* cmd, GlobalOptions& global);
void SetupBenchCommand(CLI::App* cmd, GlobalOptions& global);
// `sims bench design` (cmd_bench_design.cpp): `cmd` is bench's `design` subcommand.
void SetupBenchDesignCommand(CLI::App* cmd, GlobalOptions& global);
// The report (orchestrator/cli/cmd_report.cpp) and the demo (cmd_demo.cpp, SIMS_WITH_TORCH).
void SetupReportCommand(CLI::App* cmd, GlobalOptions& global);

#if SIMS_WITH_TORCH
void SetupDemoCommand(CLI::App* cmd, GlobalOptions& global);
// `sims bench train` (orchestrator/cli/cmd_bench_train.cpp): `cmd` is bench's `train` subcommand.
void SetupBenchTrainCommand(CLI::App* cmd, GlobalOptions& global);
#endif

}  // namespace sims
