#include "trainer/hf_export.h"

#include <filesystem>

#include "common/files.h"
#include "trainer/checkpoint.h"
#include "trainer/corpus/vocab.h"
#include "trainer/hf_model.h"
#include "trainer/hf/speech_vocab.h"
#include "trainer/hf/tokenizer.h"

namespace sims::hf {
namespace {

namespace fs = std::filesystem;

void WriteTokenizer(const std::string& checkpoint, const corpus::Vocabulary& vocab,
                    const std::string& out) {
  const fs::path source = fs::path(checkpoint) / "tokenizer.json";
  if (!fs::exists(source)) return;
  WriteFileAtomically((fs::path(out) / "tokenizer.json").string(),
                      ExtendedTokenizerJson(ReadWholeFile(source.string()), vocab));
  for (const char* extra : {"tokenizer_config.json", "special_tokens_map.json",
                            "generation_config.json"}) {
    if (fs::exists(fs::path(checkpoint) / extra)) {
      fs::copy_file(fs::path(checkpoint) / extra, fs::path(out) / extra,
                    fs::copy_options::overwrite_existing);
    }
  }
}

}  // namespace

void ExportExtendedCheckpoint(const std::string& checkpoint_dir, const std::string& out_dir,
                              const std::string& dtype, uint64_t seed) {
  const HfModelConfig config = ReadHfConfig(checkpoint_dir);
  const BpeTokenizer tokenizer =
      BpeTokenizer::Load((fs::path(checkpoint_dir) / "tokenizer.json").string());
  const corpus::Vocabulary vocab = CheckpointVocabulary(tokenizer, config);
  trainer::Decoder model = trainer::MakeDecoder(DecoderOptionsFor(config, vocab.vocab_size), seed);
  InitFromCheckpoint(checkpoint_dir, vocab, *model, seed);
  ExportHfModel(*model, config, out_dir, dtype);
  WriteTokenizer(checkpoint_dir, vocab, out_dir);
}

void ExportRunWeights(const std::string& run_id, const RunConfig& config,
                      const std::string& weights, const std::string& out_dir,
                      const std::string& dtype) {
  const bool from_checkpoint = config.init.kind == InitKind::kCheckpoint;
  trainer::DecoderOptions options;
  options.shape = config.shape;
  if (from_checkpoint) {
    options = CheckpointRunOptions(run_id, config.init.checkpoint_path, config.shape);
  }
  trainer::Decoder model = trainer::MakeDecoder(options, 0);
  trainer::LoadWeights(weights, model);
  const HfModelConfig base = from_checkpoint ? ReadHfConfig(config.init.checkpoint_path)
                                             : HfConfigForDecoder(options);
  ExportHfModel(*model, base, out_dir, dtype);
  if (from_checkpoint) {
    WriteTokenizer(config.init.checkpoint_path, corpus::LoadVocabulary(config.corpus), out_dir);
  }
}

}  // namespace sims::hf
