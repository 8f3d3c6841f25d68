#include "sweeps/parse.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "common/enum_names.h"
#include "common/error.h"
#include "common/format.h"
#include "common/files.h"
#include "common/names.h"
#include "common/toml_reader.h"

namespace sims {
namespace {

namespace fs = std::filesystem;
using Table = TomlTable;

// Bounds that keep every count and FLOP figure far from int64/double trouble, and a mutated
// file from planning for ever. Real sweeps are orders of magnitude inside them.
constexpr int64_t kMaxConditions = 64;
constexpr double kMaxBudget = 1e30;
constexpr double kMaxTokens = 1e16;
constexpr double kMaxTokensPerParam = 1e6;
constexpr double kMaxGpuGib = 1e6;

constexpr std::string_view kHpKeys =
    "lr, warmup_fraction, min_lr_ratio, batch_tokens, micro_batch_tokens, context, clip, "
    "weight_decay, dtype, eval_every, eval_pairs, eval_score, eval_unit_only, ranks, "
    "shard_optimizer";

HpPatch ReadHp(Table& t) {
  HpPatch p;
  p.lr = t.Number("lr");
  p.warmup_fraction = t.Number("warmup_fraction");
  p.min_lr_ratio = t.Number("min_lr_ratio");
  p.clip = t.Number("clip");
  p.weight_decay = t.Number("weight_decay");
  p.batch_tokens = t.Integer("batch_tokens");
  p.micro_batch_tokens = t.Integer("micro_batch_tokens");
  p.context = t.Integer("context");
  p.eval_every = t.Integer("eval_every");
  p.eval_pairs = t.Integer("eval_pairs");
  p.dtype = Choice(t, "dtype", DtypeFromString);
  p.eval_score = Choice(t, "eval_score", EvalScoreFromString);
  p.eval_unit_only = t.Bool("eval_unit_only");
  p.ranks = t.Integer("ranks");
  p.shard_optimizer = t.Bool("shard_optimizer");
  return p;
}

ShapeRule ReadShapeRule(Table& t) {
  ShapeRule r;
  if (auto v = t.Integer("head_dim")) r.head_dim = *v;
  if (auto v = t.Integer("width_multiple")) r.width_multiple = *v;
  if (auto v = t.Number("ffn_ratio")) r.ffn_ratio = *v;
  if (auto v = t.Integer("ffn_multiple")) r.ffn_multiple = *v;
  if (auto v = t.Number("aspect_ratio")) r.aspect_ratio = *v;
  if (auto v = t.Integer("min_layers")) r.min_layers = *v;
  if (auto v = t.Integer("max_layers")) r.max_layers = *v;
  if (auto v = t.Integer("max_d_model")) r.max_d_model = *v;
  if (auto v = t.Number("tolerance")) r.tolerance = *v;
  t.RejectUnknown(
      "head_dim, width_multiple, ffn_ratio, ffn_multiple, aspect_ratio, min_layers, max_layers, "
      "max_d_model, tolerance");
  try {
    ValidateShapeRule(r);
  } catch (const UserError& e) {
    throw UserError(t.Self().Where() + ": " + e.what());
  }
  return r;
}

std::string Resolve(const std::string& path, const std::string& base_dir) {
  fs::path p(path);
  if (p.is_relative()) p = fs::path(base_dir) / p;
  return fs::absolute(p).lexically_normal().string();
}

DataMixture ReadMixture(Table& cond) {
  std::optional<Table> m = cond.Sub("mixture");
  if (!m)
    cond.Fail("mixture", "is required, e.g. mixture = { text = 0, speech = 1, interleaved = 0 }");
  DataMixture mix;
  mix.text = m->Number("text").value_or(0);
  mix.speech = m->Number("speech").value_or(0);
  mix.interleaved = m->Number("interleaved").value_or(0);
  m->RejectUnknown("text, speech, interleaved");
  for (auto [key, value] : {std::pair{"text", mix.text}, std::pair{"speech", mix.speech},
                            std::pair{"interleaved", mix.interleaved}}) {
    if (value < 0 || value > 1e6) {
      m->Fail(key, fmt::format("weight {} must be in [0, 1e6]", value));
    }
  }
  if (mix.text + mix.speech + mix.interleaved <= 0) {
    cond.Fail("mixture", "all stream weights are 0; give at least one positive weight");
  }
  return mix;
}

SizeSpec ReadShape(const toml::node& node, const std::string& path, const Table& parent,
                   const SweepSpec& spec, const std::string& base_dir) {
  if (!node.is_table()) {
    parent.FailAt(node, path, fmt::format("expected a shape table, found {}", TomlTypeName(node)));
  }
  Table t(*node.as_table(), path, parent.file());
  SizeSpec size;
  size.origin = t.Self();
  ModelShape& s = size.shape;
  auto layers = t.Integer("layers");
  auto d_model = t.Integer("d_model");
  if (!layers) t.Fail("layers", "is required in an explicit shape");
  if (!d_model) t.Fail("d_model", "is required in an explicit shape");
  s.layers = *layers;
  s.d_model = *d_model;
  if (s.layers < 1 || s.layers > 1024)
    t.Fail("layers", fmt::format("{} must be in [1, 1024]", s.layers));
  if (s.d_model < 1 || s.d_model > (1 << 20)) {
    t.Fail("d_model", fmt::format("{} must be in [1, 1048576]", s.d_model));
  }
  s.heads = t.Integer("heads").value_or(s.d_model / spec.shape_rule.head_dim);
  if (s.heads < 1 || s.d_model % s.heads != 0) {
    t.Fail("heads",
           fmt::format("{} heads must be >= 1 and divide d_model = {}", s.heads, s.d_model));
  }
  s.kv_heads = t.Integer("kv_heads").value_or(s.heads);
  if (s.kv_heads < 1 || s.heads % s.kv_heads != 0) {
    t.Fail("kv_heads", fmt::format("{} must be >= 1 and divide heads = {}", s.kv_heads, s.heads));
  }
  s.d_ff = t.Integer("d_ff").value_or(FfnWidth(s.d_model, spec.shape_rule));
  if (s.d_ff < 1 || s.d_ff > (1 << 22))
    t.Fail("d_ff", fmt::format("{} must be in [1, 4194304]", s.d_ff));
  s.vocab_size = t.Integer("vocab_size").value_or(spec.vocab_size);
  if (s.vocab_size < 1 || s.vocab_size > (1 << 24)) {
    t.Fail("vocab_size", fmt::format("{} must be in [1, 16777216]", s.vocab_size));
  }
  s.tied_embeddings = t.Bool("tied_embeddings").value_or(spec.tied_embeddings);
  s.qkv_bias = t.Bool("qkv_bias").value_or(false);
  size.label = t.String("label").value_or(fmt::format("L{}-d{}", s.layers, s.d_model));
  ValidateName(NameKind::kSizeLabel, size.label, t.At("label").Where());
  if (auto ckpt = t.String("checkpoint")) {
    if (ckpt->empty()) t.Fail("checkpoint", "is empty; give the checkpoint directory");
    size.checkpoint = Resolve(*ckpt, base_dir);
    size.checkpoint_origin = size.origin;
  }
  t.RejectUnknown(
      "layers, d_model, heads, kv_heads, d_ff, vocab_size, tied_embeddings, qkv_bias, label, "
      "checkpoint");
  return size;
}

// `sizes = [N, ...]`: target non-embedding counts, each made a shape by the shape rule.
void ReadTargetSizes(Table& t, const SweepSpec& spec, std::vector<SizeSpec>& out) {
  const toml::array* sizes = t.Array("sizes");
  if (!sizes) return;
  for (size_t i = 0; i < sizes->size(); ++i) {
    const std::string path = fmt::format("{}[{}]", t.Path("sizes"), i);
    const toml::node& n = *sizes->get(i);
    const int64_t target = t.IntegerOf(n, path);
    if (target <= 0) t.FailAt(n, path, fmt::format("size {} must be > 0", target));
    SizeSpec size;
    size.origin = Origin{t.file(), LineOf(n), path};
    size.target_non_embedding = target;
    size.label = HumanCount(target);
    try {
      size.shape = ShapeForParams(target, spec.vocab_size, spec.tied_embeddings, spec.shape_rule);
    } catch (const UserError& e) {
      throw UserError(size.origin.Where() + ": " + e.what());
    }
    out.push_back(size);
  }
}

// Sizes, then explicit shapes; at least one, labels distinct.
std::vector<SizeSpec> ReadSizes(Table& t, const SweepSpec& spec, const std::string& base_dir) {
  std::vector<SizeSpec> sizes;
  ReadTargetSizes(t, spec, sizes);
  if (const toml::array* shapes = t.Array("shapes")) {
    for (size_t i = 0; i < shapes->size(); ++i) {
      sizes.push_back(ReadShape(*shapes->get(i), fmt::format("{}[{}]", t.Path("shapes"), i), t,
                                spec, base_dir));
    }
  }
  if (sizes.empty()) {
    t.Fail("sizes",
           "the design has no sizes; give sizes = [N, ...] (non-embedding parameter "
           "counts) or shapes = [{ layers = .., d_model = .. }, ...]");
  }
  std::set<std::string> labels;
  for (const SizeSpec& s : sizes) {
    if (!labels.insert(s.label).second) {
      throw UserError(s.origin.Where() + ": size '" + s.label + "' appears twice in the design");
    }
  }
  return sizes;
}

// Refuses the first entry of array `key` outside (0, max], naming it as `what(value)` says.
template <typename T, typename Describe>
void CheckEach(const Table& t, std::string_view key, const std::vector<T>& values, double max,
               Describe what) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!(values[i] > 0 && static_cast<double>(values[i]) <= max)) {
      t.FailAt(*t.table().get(key)->as_array()->get(i), fmt::format("{}[{}]", t.Path(key), i),
               what(values[i]));
    }
  }
}

// The design's columns: budgets (isoflop; or grid), tokens_per_param or tokens (grid).
void ReadColumns(Table& t, DesignSpec& d) {
  d.budgets = t.Numbers("budgets");
  d.tokens_per_param = t.Numbers("tokens_per_param");
  d.tokens = t.Integers("tokens");
  CheckEach(t, "budgets", d.budgets, kMaxBudget, [](double v) {
    return fmt::format("budget {} FLOPs must be > 0 and <= 1e30", FormatNumber(v));
  });
  CheckEach(t, "tokens_per_param", d.tokens_per_param, kMaxTokensPerParam, [](double v) {
    return fmt::format("tokens per parameter {} must be > 0 and <= 1e6", v);
  });
  CheckEach(t, "tokens", d.tokens, kMaxTokens, [](int64_t v) {
    return fmt::format("tokens {} must be > 0 and <= 1e16", v);
  });
  const int columns = !d.budgets.empty() + !d.tokens_per_param.empty() + !d.tokens.empty();
  if (d.kind == DesignKind::kIsoflop) {
    if (d.budgets.empty()) t.Fail("budgets", "an isoflop design needs budgets = [C, ...] (FLOPs)");
    if (columns != 1) {
      t.Fail(
          !d.tokens.empty() ? "tokens" : "tokens_per_param",
          "an isoflop design takes budgets only (its tokens follow from D = C / FLOPs-per-token)");
    }
  } else if (columns != 1) {
    t.Fail("budgets", "a grid design needs exactly one of budgets, tokens_per_param, tokens");
  }
}

// min_tokens, min/max_tokens_per_param: which points of the design are skipped.
void ReadSkipBounds(Table& t, DesignSpec& d) {
  d.min_tokens = t.Integer("min_tokens").value_or(0);
  if (d.min_tokens < 0) t.Fail("min_tokens", fmt::format("{} must be >= 0", d.min_tokens));
  d.min_tokens_per_param = t.Number("min_tokens_per_param").value_or(0);
  d.max_tokens_per_param = t.Number("max_tokens_per_param").value_or(0);
  if (d.min_tokens_per_param < 0) {
    t.Fail("min_tokens_per_param", fmt::format("{} must be >= 0", d.min_tokens_per_param));
  }
  if (d.max_tokens_per_param < 0 ||
      (d.max_tokens_per_param > 0 && d.max_tokens_per_param < d.min_tokens_per_param)) {
    t.Fail("max_tokens_per_param",
           fmt::format("{} must be >= min_tokens_per_param = {} (0 = no upper bound)",
                       d.max_tokens_per_param, d.min_tokens_per_param));
  }
}

DesignSpec ReadDesign(Table& cond, const SweepSpec& spec, const std::string& base_dir) {
  std::optional<Table> t = cond.Sub("design");
  if (!t) cond.Fail("design", "is required: a table with kind = \"grid\" or \"isoflop\"");
  DesignSpec d;
  d.origin = t->Self();
  // Only these two of DesignKind are written in a sweep file; the planner adds text-lm runs.
  static constexpr EnumNames<DesignKind, 2> kFileDesigns{
      {{DesignKind::kGrid, "grid"}, {DesignKind::kIsoflop, "isoflop"}}};
  auto kind = Choice(*t, "kind", +[](std::string_view text) {
    return ParseName(kFileDesigns, text, "a design");
  });
  if (!kind) t->Fail("kind", "is required: \"grid\" or \"isoflop\"");
  d.kind = *kind;
  d.sizes = ReadSizes(*t, spec, base_dir);
  ReadColumns(*t, d);
  ReadSkipBounds(*t, d);
  t->RejectUnknown(
      "kind, sizes, shapes, budgets, tokens_per_param, tokens, min_tokens, "
      "min_tokens_per_param, max_tokens_per_param");
  return d;
}

// Each size of an init = "checkpoint" condition gets its directory: its shape's `checkpoint`
// or the condition's. Whether the directory exists is sweeps/validate.h's question.
void AssignCheckpoints(Table& t, ConditionSpec& c, const std::optional<std::string>& checkpoint,
                       const std::string& base_dir) {
  for (SizeSpec& size : c.design.sizes) {
    if (c.init != InitKind::kCheckpoint) {
      if (!size.checkpoint.empty()) {
        throw UserError(size.origin.Where() + ": checkpoint given but the condition's init is \"" +
                        ToString(c.init) + "\"");
      }
      continue;
    }
    if (size.checkpoint.empty() && checkpoint) {
      size.checkpoint = Resolve(*checkpoint, base_dir);
      size.checkpoint_origin = t.At("checkpoint");
    }
    if (size.checkpoint.empty()) {
      throw UserError(size.origin.Where() +
                      ": init = \"checkpoint\" needs a checkpoint for this size (a `checkpoint` "
                      "key in the shape, or one for the condition)");
    }
  }
}

// `[[condition.override]]` tables.
std::vector<RunOverride> ReadOverrides(Table& t) {
  std::vector<RunOverride> out;
  const toml::array* overrides = t.Array("override");
  if (!overrides) return out;
  for (size_t i = 0; i < overrides->size(); ++i) {
    const std::string path = fmt::format("{}[{}]", t.Path("override"), i);
    const toml::node& n = *overrides->get(i);
    if (!n.is_table()) t.FailAt(n, path, fmt::format("expected a table, found {}", TomlTypeName(n)));
    Table o(*n.as_table(), path, t.file());
    RunOverride r;
    r.origin = o.Self();
    r.size = o.Integer("size");
    r.label = o.String("label");
    if (r.label) ValidateName(NameKind::kSizeLabel, *r.label, o.At("label").Where());
    r.budget = o.Number("budget");
    r.hp = ReadHp(o);
    o.RejectUnknown(fmt::format("size, label, budget (to match runs), {}", kHpKeys));
    if (!r.size && !r.label && !r.budget) {
      o.Fail("size", "an override needs at least one of size, label, budget to match runs");
    }
    out.push_back(r);
  }
  return out;
}

ConditionSpec ReadCondition(Table& t, const SweepSpec& spec, const std::string& base_dir) {
  ConditionSpec c;
  c.origin = t.Self();
  auto name = t.String("name");
  if (!name) t.Fail("name", "is required");
  ValidateName(NameKind::kCondition, *name, t.At("name").Where());
  if (*name == "text-lm") {
    t.Fail("name", "'text-lm' is reserved for the text LMs the planner adds; pick another name");
  }
  c.name = *name;
  c.description = t.String("description").value_or("");
  c.mixture = ReadMixture(t);
  auto checkpoint = t.String("checkpoint");
  if (checkpoint && checkpoint->empty()) {
    t.Fail("checkpoint", "is empty; give the checkpoint directory");
  }
  c.init = Choice(t, "init", InitKindFromString)
               .value_or(checkpoint ? InitKind::kCheckpoint : InitKind::kScratch);
  if (c.init == InitKind::kTextLm && !spec.text_lm) {
    t.Fail("init",
           "init = \"text-lm\" needs a [text_lm] table saying how long the text LMs "
           "train (hint: [text_lm] tokens_per_param = 20)");
  }
  if (checkpoint && c.init != InitKind::kCheckpoint) {
    t.Fail("checkpoint", fmt::format("a checkpoint is given but init = \"{}\"", ToString(c.init)));
  }
  c.hp = Apply(spec.hp, ReadHp(t));
  ValidateHyperparameters(c.hp, c.origin.Where());
  c.design = ReadDesign(t, spec, base_dir);
  AssignCheckpoints(t, c, checkpoint, base_dir);
  c.overrides = ReadOverrides(t);
  t.RejectUnknown(
      fmt::format("name, description, mixture, init, checkpoint, design, override, {}", kHpKeys));
  return c;
}


// `[sweep]`: the name, seed, corpus, vocabulary, FLOP convention and default hyper-parameters.
void ReadSweepTable(Table& top, SweepSpec& spec, const std::string& corpus_override,
                    const std::string& base_dir) {
  std::optional<Table> sweep = top.Sub("sweep");
  if (!sweep) throw UserError(fmt::format("{}:1: sweep: the [sweep] table is required", spec.path));
  auto name = sweep->String("name");
  if (!name) sweep->Fail("name", "is required");
  ValidateName(NameKind::kSweep, *name, sweep->At("name").Where());
  spec.name = *name;
  const int64_t seed = sweep->Integer("seed").value_or(0);
  if (seed < 0) sweep->Fail("seed", fmt::format("{} must be >= 0", seed));
  spec.seed = static_cast<uint64_t>(seed);
  auto corpus = sweep->String("corpus");
  if (!corpus || corpus->empty()) {
    sweep->Fail("corpus", "is required: the corpus directory (relative to this file)");
  }
  spec.corpus = corpus_override.empty() ? Resolve(*corpus, base_dir)
                                        : Resolve(corpus_override, fs::current_path().string());
  auto vocab = sweep->Integer("vocab_size");
  if (!vocab) sweep->Fail("vocab_size", "is required (the corpus' vocab.json vocab_size)");
  if (*vocab < 1 || *vocab > (1 << 24)) {
    sweep->Fail("vocab_size", fmt::format("{} must be in [1, 16777216]", *vocab));
  }
  spec.vocab_size = *vocab;
  spec.vocab_origin = sweep->At("vocab_size");
  spec.tied_embeddings = sweep->Bool("tied_embeddings").value_or(true);
  spec.flops = Choice(*sweep, "flops", FlopConventionFromString).value_or(FlopConvention::k6ND);
  spec.n_includes_embedding = sweep->Bool("n_includes_embedding").value_or(false);
  spec.gpu_memory_gib = sweep->Number("gpu_memory").value_or(0);
  if (sweep->Has("gpu_memory") && !(spec.gpu_memory_gib > 0 && spec.gpu_memory_gib <= kMaxGpuGib)) {
    sweep->Fail("gpu_memory", fmt::format("{} must be in (0, 1e6]: GiB per GPU, e.g. 80 for an "
                                          "H100 80GB",
                                          spec.gpu_memory_gib));
  }
  Hyperparameters defaults;
  defaults.micro_batch_tokens = 0;
  HpPatch patch = ReadHp(*sweep);
  spec.hp = Apply(defaults, patch);
  // micro_batch_tokens defaults to batch_tokens (no accumulation) unless given.
  if (!patch.micro_batch_tokens) spec.hp.micro_batch_tokens = spec.hp.batch_tokens;
  ValidateHyperparameters(spec.hp, sweep->Self().Where());
  sweep->RejectUnknown(fmt::format(
      "name, seed, corpus, vocab_size, tied_embeddings, flops, n_includes_embedding, gpu_memory, "
      "{}",
      kHpKeys));
}

// `[text_lm]`: exactly one of tokens_per_param, tokens, flops, and hyper-parameters.
TextLmSpec ReadTextLm(Table& t, const SweepSpec& spec) {
  TextLmSpec lm;
  lm.origin = t.Self();
  lm.tokens_per_param = t.Number("tokens_per_param").value_or(0);
  lm.tokens = t.Integer("tokens").value_or(0);
  lm.flops = t.Number("flops").value_or(0);
  const int given = t.Has("tokens_per_param") + t.Has("tokens") + t.Has("flops");
  if (given != 1) t.Fail("tokens_per_param", "give exactly one of tokens_per_param, tokens, flops");
  if (t.Has("tokens_per_param") &&
      !(lm.tokens_per_param > 0 && lm.tokens_per_param <= kMaxTokensPerParam)) {
    t.Fail("tokens_per_param", fmt::format("{} must be > 0 and <= 1e6", lm.tokens_per_param));
  }
  if (t.Has("tokens") && !(lm.tokens > 0 && lm.tokens <= kMaxTokens)) {
    t.Fail("tokens", fmt::format("{} must be > 0 and <= 1e16", lm.tokens));
  }
  if (t.Has("flops") && !(lm.flops > 0 && lm.flops <= kMaxBudget)) {
    t.Fail("flops", fmt::format("{} must be > 0 and <= 1e30", lm.flops));
  }
  lm.hp = Apply(spec.hp, ReadHp(t));
  ValidateHyperparameters(lm.hp, lm.origin.Where());
  t.RejectUnknown(fmt::format("tokens_per_param, tokens, flops, {}", kHpKeys));
  return lm;
}

// `[[condition]]` tables: at least one, at most kMaxConditions, names distinct.
void ReadConditions(Table& top, SweepSpec& spec, const std::string& base_dir) {
  const toml::array* conditions = top.Array("condition");
  if (!conditions || conditions->empty()) {
    throw UserError(fmt::format(
        "{}:1: condition: no [[condition]] tables; a sweep needs at least one", spec.path));
  }
  if (static_cast<int64_t>(conditions->size()) > kMaxConditions) {
    top.Fail("condition",
             fmt::format("{} conditions; at most {}", conditions->size(), kMaxConditions));
  }
  std::set<std::string> names;
  for (size_t i = 0; i < conditions->size(); ++i) {
    const std::string cpath = fmt::format("condition[{}]", i);
    const toml::node& n = *conditions->get(i);
    if (!n.is_table()) {
      top.FailAt(n, cpath, fmt::format("expected a table, found {}", TomlTypeName(n)));
    }
    Table t(*n.as_table(), cpath, spec.path);
    ConditionSpec c = ReadCondition(t, spec, base_dir);
    if (!names.insert(c.name).second) {
      t.Fail("name",
             fmt::format("duplicate condition name '{}'; each condition needs its own", c.name));
    }
    spec.conditions.push_back(std::move(c));
  }
}

}  // namespace

std::string HumanCount(int64_t n) {
  const double v = static_cast<double>(n);
  if (v >= 1e9) return fmt::format("{:.3g}B", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.3g}M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.3g}k", v / 1e3);
  return std::to_string(n);
}

Hyperparameters Apply(Hyperparameters hp, const HpPatch& p) {
  if (p.lr) hp.lr = *p.lr;
  if (p.warmup_fraction) hp.warmup_fraction = *p.warmup_fraction;
  if (p.min_lr_ratio) hp.min_lr_ratio = *p.min_lr_ratio;
  if (p.clip) hp.clip = *p.clip;
  if (p.weight_decay) hp.weight_decay = *p.weight_decay;
  if (p.batch_tokens) hp.batch_tokens = *p.batch_tokens;
  if (p.micro_batch_tokens) hp.micro_batch_tokens = *p.micro_batch_tokens;
  if (p.context) hp.context = *p.context;
  if (p.eval_every) hp.eval_every = *p.eval_every;
  if (p.dtype) hp.dtype = *p.dtype;
  if (p.eval_pairs) hp.eval_pairs = *p.eval_pairs;
  if (p.eval_score) hp.eval_score = *p.eval_score;
  if (p.eval_unit_only) hp.eval_unit_only = *p.eval_unit_only;
  if (p.ranks) hp.ranks = *p.ranks;
  if (p.shard_optimizer) hp.shard_optimizer = *p.shard_optimizer;
  return hp;
}

SweepSpec ParseSweep(const std::string& text, const std::string& path,
                     const std::string& corpus_override) {
  const toml::table root = ParseToml(text, path);
  SweepSpec spec;
  spec.path = path;
  spec.source_toml = text;
  const std::string base_dir = fs::absolute(fs::path(path)).parent_path().string();
  Table top(root, "", spec.path);
  ReadSweepTable(top, spec, corpus_override, base_dir);
  if (std::optional<Table> rule = top.Sub("shape_rule")) spec.shape_rule = ReadShapeRule(*rule);
  if (std::optional<Table> t = top.Sub("text_lm")) spec.text_lm = ReadTextLm(*t, spec);
  ReadConditions(top, spec, base_dir);
  top.RejectUnknown("sweep, shape_rule, text_lm, condition");
  return spec;
}

std::string ReadSweepFile(const std::string& path) {
  try {
    return ReadWholeFile(path);
  } catch (const UserError&) {
    throw UserError(fmt::format(
        "sweep file '{}' cannot be read (hint: check the path; the examples are in examples/)",
        path));
  }
}

}  // namespace sims
