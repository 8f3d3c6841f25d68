#include "sweeps/plan.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/format.h"
#include "common/names.h"

namespace sims {
namespace {

namespace fs = std::filesystem;

// Bounds that keep every count and FLOP figure far from int64/double trouble, and a mutated
// file from planning for ever. Real sweeps are orders of magnitude inside them.
constexpr int64_t kMaxListLength = 256;
constexpr int64_t kMaxConditions = 64;
constexpr double kMaxBudget = 1e30;
constexpr double kMaxTokens = 1e16;
constexpr double kMaxTokensPerParam = 1e6;

// 200000 -> "200k", 1543714304 -> "1.54B".
std::string HumanCount(int64_t n) {
  const double v = static_cast<double>(n);
  if (v >= 1e9) return fmt::format("{:.3g}B", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.3g}M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.3g}k", v / 1e3);
  return std::to_string(n);
}

const char* TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date/time";
  }
}

int64_t LineOf(const toml::node& node) { return static_cast<int64_t>(node.source().begin.line); }

// A TOML table being read: its key path for messages, and which keys were read, so that
// RejectUnknown can name the first key nobody asked for (typos must not pass silently).
class Table {
 public:
  Table(const toml::table& table, std::string path, const std::string& file)
      : table_(table), path_(std::move(path)), file_(file) {}

  std::string Path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  Origin At(std::string_view key) const {
    const toml::node* node = table_.get(key);
    return Origin{file_, node ? LineOf(*node) : LineOf(table_), Path(key)};
  }
  Origin Self() const { return Origin{file_, LineOf(table_), path_.empty() ? "(top)" : path_}; }
  [[noreturn]] void Fail(std::string_view key, const std::string& message) const {
    throw UserError(At(key).Where() + ": " + message);
  }
  bool Has(std::string_view key) const { return table_.contains(key); }

  const toml::node* Node(std::string_view key) {
    read_.insert(std::string(key));
    return table_.get(key);
  }

  std::optional<double> Number(std::string_view key) {
    const toml::node* n = Node(key);
    if (!n) return std::nullopt;
    return NumberOf(*n, Path(key));
  }
  std::optional<int64_t> Integer(std::string_view key) {
    const toml::node* n = Node(key);
    if (!n) return std::nullopt;
    return IntegerOf(*n, Path(key));
  }
  std::optional<std::string> String(std::string_view key) {
    const toml::node* n = Node(key);
    if (!n) return std::nullopt;
    if (!n->is_string()) Fail(key, fmt::format("expected a string, found {}", TypeName(*n)));
    return n->as_string()->get();
  }
  std::optional<bool> Bool(std::string_view key) {
    const toml::node* n = Node(key);
    if (!n) return std::nullopt;
    if (!n->is_boolean()) Fail(key, fmt::format("expected true or false, found {}", TypeName(*n)));
    return n->as_boolean()->get();
  }
  std::optional<Table> Sub(std::string_view key) {
    const toml::node* n = Node(key);
    if (!n) return std::nullopt;
    if (!n->is_table()) Fail(key, fmt::format("expected a table, found {}", TypeName(*n)));
    return Table(*n->as_table(), Path(key), file_);
  }
  const toml::array* Array(std::string_view key) {
    const toml::node* n = Node(key);
    if (!n) return nullptr;
    if (!n->is_array()) Fail(key, fmt::format("expected an array, found {}", TypeName(*n)));
    const toml::array* a = n->as_array();
    if (static_cast<int64_t>(a->size()) > kMaxListLength) {
      Fail(key, fmt::format("has {} entries; at most {} are allowed", a->size(), kMaxListLength));
    }
    return a;
  }
  std::vector<double> Numbers(std::string_view key) {
    std::vector<double> out;
    if (const toml::array* a = Array(key)) {
      for (size_t i = 0; i < a->size(); ++i) {
        out.push_back(NumberOf(*a->get(i), fmt::format("{}[{}]", Path(key), i)));
      }
    }
    return out;
  }
  std::vector<int64_t> Integers(std::string_view key) {
    std::vector<int64_t> out;
    if (const toml::array* a = Array(key)) {
      for (size_t i = 0; i < a->size(); ++i) {
        out.push_back(IntegerOf(*a->get(i), fmt::format("{}[{}]", Path(key), i)));
      }
    }
    return out;
  }

  void RejectUnknown(std::string_view expected) const {
    for (auto&& [key, node] : table_) {
      if (!read_.count(std::string(key.str()))) {
        throw UserError(fmt::format("{}:{}: {}: unknown key (expected one of: {})", file_,
                                    key.source().begin.line, Path(key.str()), expected));
      }
    }
  }

  double NumberOf(const toml::node& n, const std::string& path) const {
    double v = 0;
    if (n.is_integer()) {
      v = static_cast<double>(n.as_integer()->get());
    } else if (n.is_floating_point()) {
      v = n.as_floating_point()->get();
    } else {
      FailAt(n, path, fmt::format("expected a number, found {}", TypeName(n)));
    }
    if (!std::isfinite(v)) FailAt(n, path, "expected a finite number, found nan/inf");
    return v;
  }
  int64_t IntegerOf(const toml::node& n, const std::string& path) const {
    if (n.is_integer()) return n.as_integer()->get();
    // 1e6 is a float in TOML; accept it where a count is meant, if it is a whole number.
    if (n.is_floating_point()) {
      const double v = n.as_floating_point()->get();
      if (std::isfinite(v) && v == std::floor(v) && std::abs(v) <= 9e15) {
        return static_cast<int64_t>(v);
      }
      FailAt(n, path, fmt::format("expected a whole number, found {}", v));
    }
    FailAt(n, path, fmt::format("expected an integer, found {}", TypeName(n)));
  }
  [[noreturn]] void FailAt(const toml::node& n, const std::string& path,
                           const std::string& message) const {
    throw UserError(fmt::format("{}:{}: {}: {}", file_, LineOf(n), path, message));
  }
  const std::string& file() const { return file_; }
  const toml::table& table() const { return table_; }

 private:
  const toml::table& table_;
  std::string path_;
  const std::string& file_;
  std::set<std::string> read_;
};

constexpr std::string_view kHpKeys =
    "lr, warmup_fraction, min_lr_ratio, batch_tokens, micro_batch_tokens, context, clip, "
    "weight_decay, dtype, eval_every, eval_pairs, eval_score, eval_unit_only";

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
  p.dtype = t.String("dtype");
  p.eval_score = t.String("eval_score");
  p.eval_unit_only = t.Bool("eval_unit_only");
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
    parent.FailAt(node, path, fmt::format("expected a shape table, found {}", TypeName(node)));
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
  }
  t.RejectUnknown(
      "layers, d_model, heads, kv_heads, d_ff, vocab_size, tied_embeddings, qkv_bias, label, "
      "checkpoint");
  return size;
}

DesignSpec ReadDesign(Table& cond, const SweepSpec& spec, const std::string& base_dir) {
  std::optional<Table> t = cond.Sub("design");
  if (!t) cond.Fail("design", "is required: a table with kind = \"grid\" or \"isoflop\"");
  DesignSpec d;
  d.origin = t->Self();
  auto kind = t->String("kind");
  if (!kind) t->Fail("kind", "is required: \"grid\" or \"isoflop\"");
  if (*kind != "grid" && *kind != "isoflop") {
    t->Fail("kind", fmt::format("'{}' is not a design; expected \"grid\" or \"isoflop\"", *kind));
  }
  d.kind = *kind;
  // Sizes: target non-embedding counts through the shape rule, then explicit shapes.
  if (const toml::array* sizes = t->Array("sizes")) {
    for (size_t i = 0; i < sizes->size(); ++i) {
      const std::string path = fmt::format("{}[{}]", t->Path("sizes"), i);
      const toml::node& n = *sizes->get(i);
      const int64_t target = t->IntegerOf(n, path);
      if (target <= 0) t->FailAt(n, path, fmt::format("size {} must be > 0", target));
      SizeSpec size;
      size.origin = Origin{t->file(), LineOf(n), path};
      size.target_non_embedding = target;
      size.label = HumanCount(target);
      try {
        size.shape = ShapeForParams(target, spec.vocab_size, spec.tied_embeddings, spec.shape_rule);
      } catch (const UserError& e) {
        throw UserError(size.origin.Where() + ": " + e.what());
      }
      d.sizes.push_back(size);
    }
  }
  if (const toml::array* shapes = t->Array("shapes")) {
    for (size_t i = 0; i < shapes->size(); ++i) {
      d.sizes.push_back(ReadShape(*shapes->get(i), fmt::format("{}[{}]", t->Path("shapes"), i), *t,
                                  spec, base_dir));
    }
  }
  if (d.sizes.empty()) {
    t->Fail("sizes",
            "the design has no sizes; give sizes = [N, ...] (non-embedding parameter "
            "counts) or shapes = [{ layers = .., d_model = .. }, ...]");
  }
  std::set<std::string> labels;
  for (const SizeSpec& s : d.sizes) {
    if (!labels.insert(s.label).second) {
      throw UserError(s.origin.Where() + ": size '" + s.label + "' appears twice in the design");
    }
  }
  d.budgets = t->Numbers("budgets");
  d.tokens_per_param = t->Numbers("tokens_per_param");
  d.tokens = t->Integers("tokens");
  for (size_t i = 0; i < d.budgets.size(); ++i) {
    if (!(d.budgets[i] > 0 && d.budgets[i] <= kMaxBudget)) {
      t->FailAt(*t->table().get("budgets")->as_array()->get(i),
                fmt::format("{}[{}]", t->Path("budgets"), i),
                fmt::format("budget {} FLOPs must be > 0 and <= 1e30", FormatNumber(d.budgets[i])));
    }
  }
  for (size_t i = 0; i < d.tokens_per_param.size(); ++i) {
    if (!(d.tokens_per_param[i] > 0 && d.tokens_per_param[i] <= kMaxTokensPerParam)) {
      t->FailAt(
          *t->table().get("tokens_per_param")->as_array()->get(i),
          fmt::format("{}[{}]", t->Path("tokens_per_param"), i),
          fmt::format("tokens per parameter {} must be > 0 and <= 1e6", d.tokens_per_param[i]));
    }
  }
  for (size_t i = 0; i < d.tokens.size(); ++i) {
    if (!(d.tokens[i] > 0 && d.tokens[i] <= kMaxTokens)) {
      t->FailAt(*t->table().get("tokens")->as_array()->get(i),
                fmt::format("{}[{}]", t->Path("tokens"), i),
                fmt::format("tokens {} must be > 0 and <= 1e16", d.tokens[i]));
    }
  }
  const int columns = !d.budgets.empty() + !d.tokens_per_param.empty() + !d.tokens.empty();
  if (d.kind == "isoflop") {
    if (d.budgets.empty()) t->Fail("budgets", "an isoflop design needs budgets = [C, ...] (FLOPs)");
    if (columns != 1) {
      t->Fail(
          !d.tokens.empty() ? "tokens" : "tokens_per_param",
          "an isoflop design takes budgets only (its tokens follow from D = C / FLOPs-per-token)");
    }
  } else if (columns != 1) {
    t->Fail("budgets", "a grid design needs exactly one of budgets, tokens_per_param, tokens");
  }
  d.min_tokens = t->Integer("min_tokens").value_or(0);
  if (d.min_tokens < 0) t->Fail("min_tokens", fmt::format("{} must be >= 0", d.min_tokens));
  d.min_tokens_per_param = t->Number("min_tokens_per_param").value_or(0);
  d.max_tokens_per_param = t->Number("max_tokens_per_param").value_or(0);
  if (d.min_tokens_per_param < 0) {
    t->Fail("min_tokens_per_param", fmt::format("{} must be >= 0", d.min_tokens_per_param));
  }
  if (d.max_tokens_per_param < 0 ||
      (d.max_tokens_per_param > 0 && d.max_tokens_per_param < d.min_tokens_per_param)) {
    t->Fail("max_tokens_per_param",
            fmt::format("{} must be >= min_tokens_per_param = {} (0 = no upper bound)",
                        d.max_tokens_per_param, d.min_tokens_per_param));
  }
  t->RejectUnknown(
      "kind, sizes, shapes, budgets, tokens_per_param, tokens, min_tokens, "
      "min_tokens_per_param, max_tokens_per_param");
  return d;
}

// A checkpoint directory with a Hugging Face config.json must have the shape the sweep file
// says, or the trainer would fail (or, worse, load a different model) hours later. The
// vocabulary is not compared: sims extends it with the speech units.
void CheckCheckpointConfig(const SizeSpec& size, const Origin& where) {
  const fs::path config = fs::path(size.checkpoint) / "config.json";
  std::error_code ec;
  if (!fs::is_regular_file(config, ec)) return;  // an empty fixture, or a non-HF layout
  std::ifstream in(config);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    throw UserError(where.Where() + ": " + config.string() + " is not a JSON object");
  }
  const ModelShape& s = size.shape;
  const std::pair<const char*, int64_t> fields[] = {{"num_hidden_layers", s.layers},
                                                    {"hidden_size", s.d_model},
                                                    {"num_attention_heads", s.heads},
                                                    {"num_key_value_heads", s.kv_heads},
                                                    {"intermediate_size", s.d_ff}};
  for (const auto& [key, expected] : fields) {
    if (!j.contains(key) || !j[key].is_number_integer()) continue;
    if (j[key].get<int64_t>() != expected) {
      throw UserError(
          fmt::format("{}: the checkpoint's {} has {} = {}, the sweep file's shape "
                      "{} (hint: copy the shape from config.json)",
                      where.Where(), config.string(), key, j[key].get<int64_t>(), expected));
    }
  }
  if (j.contains("tie_word_embeddings") && j["tie_word_embeddings"].is_boolean() &&
      j["tie_word_embeddings"].get<bool>() != s.tied_embeddings) {
    throw UserError(fmt::format(
        "{}: the checkpoint's {} has tie_word_embeddings = {}, the sweep "
        "file's shape tied_embeddings = {}",
        where.Where(), config.string(), j["tie_word_embeddings"].get<bool>(), s.tied_embeddings));
  }
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
  c.init = t.String("init").value_or(checkpoint ? "checkpoint" : "scratch");
  if (c.init != "scratch" && c.init != "text-lm" && c.init != "checkpoint") {
    t.Fail("init", fmt::format("'{}' is not an init; expected \"scratch\", \"text-lm\" or "
                               "\"checkpoint\"",
                               c.init));
  }
  if (c.init == "text-lm" && !spec.text_lm) {
    t.Fail("init",
           "init = \"text-lm\" needs a [text_lm] table saying how long the text LMs "
           "train (hint: [text_lm] tokens_per_param = 20)");
  }
  if (checkpoint && c.init != "checkpoint") {
    t.Fail("checkpoint", fmt::format("a checkpoint is given but init = \"{}\"", c.init));
  }
  c.hp = Apply(spec.hp, ReadHp(t));
  ValidateHyperparameters(c.hp, c.origin.Where());
  c.design = ReadDesign(t, spec, base_dir);
  for (SizeSpec& size : c.design.sizes) {
    if (c.init != "checkpoint") {
      if (!size.checkpoint.empty()) {
        throw UserError(size.origin.Where() + ": checkpoint given but the condition's init is \"" +
                        c.init + "\"");
      }
      continue;
    }
    Origin where = size.origin;
    if (size.checkpoint.empty() && checkpoint) {
      size.checkpoint = Resolve(*checkpoint, base_dir);
      where = t.At("checkpoint");
    }
    if (size.checkpoint.empty()) {
      throw UserError(size.origin.Where() +
                      ": init = \"checkpoint\" needs a checkpoint for this size (a `checkpoint` "
                      "key in the shape, or one for the condition)");
    }
    std::error_code ec;  // an unreadable or over-long path is "does not exist" too
    if (!fs::is_directory(size.checkpoint, ec)) {
      throw UserError(where.Where() + ": checkpoint directory '" + size.checkpoint +
                      "' does not exist (hint: download the Hugging Face model there, e.g. "
                      "`huggingface-cli download Qwen/Qwen2.5-0.5B --local-dir DIR`; relative "
                      "paths are resolved against the sweep file's directory)");
    }
    CheckCheckpointConfig(size, where);
  }
  if (const toml::array* overrides = t.Array("override")) {
    for (size_t i = 0; i < overrides->size(); ++i) {
      const std::string path = fmt::format("{}[{}]", t.Path("override"), i);
      const toml::node& n = *overrides->get(i);
      if (!n.is_table()) t.FailAt(n, path, fmt::format("expected a table, found {}", TypeName(n)));
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
      c.overrides.push_back(r);
    }
  }
  t.RejectUnknown(
      fmt::format("name, description, mixture, init, checkpoint, design, override, {}", kHpKeys));
  return c;
}

}  // namespace

std::string Origin::Where() const { return fmt::format("{}:{}: {}", file, line, key); }

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
  return hp;
}

void ValidateHyperparameters(const Hyperparameters& hp, const std::string& where) {
  auto fail = [&](const char* field, const std::string& value, const std::string& rule) {
    throw UserError(fmt::format("{}: {} = {} {}", where, field, value, rule));
  };
  if (!(hp.lr > 0 && hp.lr < 10)) fail("lr", fmt::format("{}", hp.lr), "must be in (0, 10)");
  if (!(hp.warmup_fraction >= 0 && hp.warmup_fraction < 1)) {
    fail("warmup_fraction", fmt::format("{}", hp.warmup_fraction), "must be in [0, 1)");
  }
  if (!(hp.min_lr_ratio >= 0 && hp.min_lr_ratio <= 1)) {
    fail("min_lr_ratio", fmt::format("{}", hp.min_lr_ratio), "must be in [0, 1]");
  }
  if (!(hp.clip >= 0)) fail("clip", fmt::format("{}", hp.clip), "must be >= 0 (0 = no clipping)");
  if (!(hp.weight_decay >= 0 && hp.weight_decay < 10)) {
    fail("weight_decay", fmt::format("{}", hp.weight_decay), "must be in [0, 10)");
  }
  if (hp.context < 1 || hp.context > (1 << 20)) {
    fail("context", std::to_string(hp.context),
         "must be in [1, 1048576] (hint: set context in [sweep])");
  }
  if (hp.batch_tokens < 1 || hp.batch_tokens > (int64_t{1} << 32) ||
      hp.batch_tokens % hp.context != 0) {
    fail("batch_tokens", std::to_string(hp.batch_tokens),
         fmt::format("must be a positive multiple of context = {} (whole sequences per step)",
                     hp.context));
  }
  if (hp.micro_batch_tokens < 1 || hp.micro_batch_tokens % hp.context != 0 ||
      hp.batch_tokens % hp.micro_batch_tokens != 0) {
    fail("micro_batch_tokens", std::to_string(hp.micro_batch_tokens),
         fmt::format("must be a multiple of context = {} that divides batch_tokens = {}",
                     hp.context, hp.batch_tokens));
  }
  // fp16 would need loss scaling, which the trainer does not do: refuse it here, at plan time,
  // not when a worker claims the run.
  if (hp.dtype != "auto" && hp.dtype != "fp32" && hp.dtype != "bf16") {
    fail("dtype", "'" + hp.dtype + "'", "must be one of auto, fp32, bf16 (fp16 needs loss scaling, which the trainer does not do)");
  }
  if (hp.eval_every < 0) fail("eval_every", std::to_string(hp.eval_every), "must be >= 0");
  if (hp.eval_pairs < 0) {
    fail("eval_pairs", std::to_string(hp.eval_pairs), "must be >= 0 (0 = every pair)");
  }
  if (hp.eval_score != "mean" && hp.eval_score != "sum") {
    fail("eval_score", "'" + hp.eval_score + "'", "must be mean or sum");
  }
}

SweepSpec ParseSweep(const std::string& text, const std::string& path,
                     const std::string& corpus_override) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    throw UserError(fmt::format("{}:{}:{}: TOML syntax error: {}", path, e.source().begin.line,
                                e.source().begin.column, e.description()));
  }
  SweepSpec spec;
  spec.path = path;
  spec.source_toml = text;
  const std::string base_dir = fs::absolute(fs::path(path)).parent_path().string();
  Table top(root, "", spec.path);

  std::optional<Table> sweep = top.Sub("sweep");
  if (!sweep) throw UserError(fmt::format("{}:1: sweep: the [sweep] table is required", path));
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
  spec.tied_embeddings = sweep->Bool("tied_embeddings").value_or(true);
  spec.flops = sweep->String("flops").value_or("6ND");
  if (spec.flops != "6ND" && spec.flops != "6ND+attn" && spec.flops != "exact") {
    sweep->Fail("flops", fmt::format("'{}' is not a convention; expected \"6ND\", \"6ND+attn\" "
                                     "or \"exact\"",
                                     spec.flops));
  }
  spec.n_includes_embedding = sweep->Bool("n_includes_embedding").value_or(false);
  Hyperparameters defaults;
  defaults.micro_batch_tokens = 0;
  HpPatch patch = ReadHp(*sweep);
  spec.hp = Apply(defaults, patch);
  // micro_batch_tokens defaults to batch_tokens (no accumulation) unless given.
  if (!patch.micro_batch_tokens) spec.hp.micro_batch_tokens = spec.hp.batch_tokens;
  ValidateHyperparameters(spec.hp, sweep->Self().Where());
  sweep->RejectUnknown(fmt::format(
      "name, seed, corpus, vocab_size, tied_embeddings, flops, n_includes_embedding, {}", kHpKeys));

  // A corpus that exists already must agree on the vocabulary size.
  const fs::path vocab_json = fs::path(spec.corpus) / "vocab.json";
  std::error_code ec;
  if (fs::is_regular_file(vocab_json, ec)) {
    std::ifstream in(vocab_json);
    nlohmann::json v = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (v.is_object() && v.contains("vocab_size") && v["vocab_size"].is_number_integer() &&
        v["vocab_size"].get<int64_t>() != spec.vocab_size) {
      sweep->Fail("vocab_size",
                  fmt::format("{} differs from the corpus' vocab_size {} in {}", spec.vocab_size,
                              v["vocab_size"].get<int64_t>(), vocab_json.string()));
    }
  }

  if (std::optional<Table> rule = top.Sub("shape_rule")) spec.shape_rule = ReadShapeRule(*rule);

  if (std::optional<Table> t = top.Sub("text_lm")) {
    TextLmSpec lm;
    lm.origin = t->Self();
    lm.tokens_per_param = t->Number("tokens_per_param").value_or(0);
    lm.tokens = t->Integer("tokens").value_or(0);
    lm.flops = t->Number("flops").value_or(0);
    const int given = t->Has("tokens_per_param") + t->Has("tokens") + t->Has("flops");
    if (given != 1) {
      t->Fail("tokens_per_param", "give exactly one of tokens_per_param, tokens, flops");
    }
    if (t->Has("tokens_per_param") &&
        !(lm.tokens_per_param > 0 && lm.tokens_per_param <= kMaxTokensPerParam)) {
      t->Fail("tokens_per_param", fmt::format("{} must be > 0 and <= 1e6", lm.tokens_per_param));
    }
    if (t->Has("tokens") && !(lm.tokens > 0 && lm.tokens <= kMaxTokens)) {
      t->Fail("tokens", fmt::format("{} must be > 0 and <= 1e16", lm.tokens));
    }
    if (t->Has("flops") && !(lm.flops > 0 && lm.flops <= kMaxBudget)) {
      t->Fail("flops", fmt::format("{} must be > 0 and <= 1e30", lm.flops));
    }
    lm.hp = Apply(spec.hp, ReadHp(*t));
    ValidateHyperparameters(lm.hp, lm.origin.Where());
    t->RejectUnknown(fmt::format("tokens_per_param, tokens, flops, {}", kHpKeys));
    spec.text_lm = lm;
  }

  const toml::array* conditions = top.Array("condition");
  if (!conditions || conditions->empty()) {
    throw UserError(
        fmt::format("{}:1: condition: no [[condition]] tables; a sweep needs at "
                    "least one",
                    path));
  }
  if (static_cast<int64_t>(conditions->size()) > kMaxConditions) {
    top.Fail("condition",
             fmt::format("{} conditions; at most {}", conditions->size(), kMaxConditions));
  }
  std::set<std::string> names;
  for (size_t i = 0; i < conditions->size(); ++i) {
    const std::string cpath = fmt::format("condition[{}]", i);
    const toml::node& n = *conditions->get(i);
    if (!n.is_table()) top.FailAt(n, cpath, fmt::format("expected a table, found {}", TypeName(n)));
    Table t(*n.as_table(), cpath, spec.path);
    ConditionSpec c = ReadCondition(t, spec, base_dir);
    if (!names.insert(c.name).second) {
      t.Fail("name",
             fmt::format("duplicate condition name '{}'; each condition needs its own", c.name));
    }
    spec.conditions.push_back(std::move(c));
  }
  top.RejectUnknown("sweep, shape_rule, text_lm, condition");
  return spec;
}

SweepSpec LoadSweepFile(const std::string& path, const std::string& corpus_override) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw UserError(
        fmt::format("sweep file '{}' cannot be read (hint: check the path; the "
                    "examples are in examples/)",
                    path));
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseSweep(text.str(), path, corpus_override);
}

int64_t ConventionParams(const SweepSpec& spec, const ModelShape& shape) {
  const ParamCounts c = CountParams(shape);
  return spec.n_includes_embedding ? c.total : c.non_embedding;
}

namespace {

double FlopsPerToken(const SweepSpec& spec, const ModelShape& shape, int64_t context) {
  return TrainingFlopsPerToken(shape, context, spec.flops, spec.n_includes_embedding);
}

// Fills tokens, steps and every count/FLOP field of `c` for `tokens_requested`.
void Account(const SweepSpec& spec, double tokens_requested, RunConfig& c) {
  const int64_t batch = c.hp.batch_tokens;
  c.steps = std::max<int64_t>(1, std::llround(tokens_requested / static_cast<double>(batch)));
  c.tokens = c.steps * batch;
  const ParamCounts counts = CountParams(c.shape);
  c.n_params = counts.total;
  c.n_params_non_embedding = counts.non_embedding;
  const int64_t n = ConventionParams(spec, c.shape);
  c.flops_6nd = Flops6ND(n, c.tokens);
  c.flops_exact = TrainingFlopsExact(c.shape, c.hp.context, c.tokens);
  c.flops = FlopsPerToken(spec, c.shape, c.hp.context) * static_cast<double>(c.tokens);
}

bool SameBudget(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(a, b); }

nlohmann::json CurveJson(const CostCurve& c) {
  return {{"context", c.context},
          {"n_params", c.n_params},
          {"n_params_non_embedding", c.n_params_non_embedding},
          {"flops_per_token", c.flops_per_token}};
}

// The condition's smallest and largest non-embedding targets.
std::pair<double, double> TargetRange(const DesignSpec& d) {
  double lo = HUGE_VAL, hi = 0;
  for (const SizeSpec& size : d.sizes) {
    const double n = size.target_non_embedding > 0
                         ? static_cast<double>(size.target_non_embedding)
                         : static_cast<double>(CountParams(size.shape).non_embedding);
    lo = std::min(lo, n);
    hi = std::max(hi, n);
  }
  return {lo, hi};
}

// A curve reaching from 30x below the smallest size to 1e4x above the largest: far enough for
// a recommendation at 100x the sweep's largest budget.
SweepFacts FactsOf(const SweepSpec& spec) {
  SweepFacts facts;
  facts.flops_convention = spec.flops;
  facts.n_includes_embedding = spec.n_includes_embedding;
  nlohmann::json curves = nlohmann::json::object();
  double all_lo = HUGE_VAL, all_hi = 0;
  for (const ConditionSpec& cond : spec.conditions) {
    const auto [lo, hi] = TargetRange(cond.design);
    all_lo = std::min(all_lo, lo);
    all_hi = std::max(all_hi, hi);
    curves[cond.name] = CurveJson(CostCurveOf(spec, cond.hp.context, lo / 30, hi * 1e4));
  }
  if (spec.text_lm) {
    curves["text-lm"] = CurveJson(CostCurveOf(spec, spec.text_lm->hp.context, all_lo / 30, all_hi * 1e4));
  }
  facts.planner_json = nlohmann::json{{"shape_rule", ToJson(spec.shape_rule)},
                                      {"vocab_size", spec.vocab_size},
                                      {"tied_embeddings", spec.tied_embeddings},
                                      {"cost_curves", curves}}
                           .dump();
  return facts;
}

}  // namespace

CostCurve CostCurveOf(const SweepSpec& spec, int64_t context, double target_lo, double target_hi) {
  CostCurve curve;
  curve.context = context;
  std::set<int64_t> seen;
  const int per_decade = 8;
  const int count = static_cast<int>(std::ceil(std::log10(target_hi / target_lo) * per_decade));
  std::vector<std::pair<ParamCounts, double>> shapes;
  for (int i = 0; i <= count; ++i) {
    const double target = target_lo * std::pow(10.0, static_cast<double>(i) / per_decade);
    if (target < 1 || target > 9e15) continue;
    ModelShape shape;
    try {
      shape = ShapeForParams(static_cast<int64_t>(target), spec.vocab_size, spec.tied_embeddings,
                             spec.shape_rule);
    } catch (const UserError&) {
      continue;  // no shape within tolerance of this target under the rule; the next may have
    }
    const ParamCounts counts = CountParams(shape);
    if (!seen.insert(counts.total).second) continue;
    shapes.push_back({counts, FlopsPerToken(spec, shape, context)});
  }
  std::sort(shapes.begin(), shapes.end(),
            [](const auto& a, const auto& b) { return a.first.total < b.first.total; });
  // At toy sizes the rule's cost per token jumps by +-20 % between neighbouring shapes (the
  // output head costs 6 V d_model per token, and d_model does not grow smoothly with N). A
  // frontier priced on those jumps sticks at whichever shape is cheapest, so the curve is the
  // running geometric mean over 5 neighbouring shapes, made non-decreasing; `sims recommend`
  // prices the shape it proposes exactly.
  const size_t count_shapes = shapes.size();
  for (size_t i = 0; i < count_shapes; ++i) {
    const size_t lo = i >= 2 ? i - 2 : 0, hi = std::min(count_shapes - 1, i + 2);
    double log_sum = 0;
    for (size_t k = lo; k <= hi; ++k) log_sum += std::log(shapes[k].second);
    double smooth = std::exp(log_sum / static_cast<double>(hi - lo + 1));
    if (!curve.flops_per_token.empty()) smooth = std::max(smooth, curve.flops_per_token.back());
    curve.n_params.push_back(static_cast<double>(shapes[i].first.total));
    curve.n_params_non_embedding.push_back(static_cast<double>(shapes[i].first.non_embedding));
    curve.flops_per_token.push_back(smooth);
  }
  return curve;
}

nlohmann::json ToJson(const ShapeRule& r) {
  return {{"head_dim", r.head_dim},         {"width_multiple", r.width_multiple},
          {"ffn_ratio", r.ffn_ratio},       {"ffn_multiple", r.ffn_multiple},
          {"aspect_ratio", r.aspect_ratio}, {"min_layers", r.min_layers},
          {"max_layers", r.max_layers},     {"max_d_model", r.max_d_model},
          {"tolerance", r.tolerance}};
}

ShapeRule ShapeRuleFromJson(const nlohmann::json& j) {
  ShapeRule r;
  try {
    r.head_dim = j.at("head_dim").get<int64_t>();
    r.width_multiple = j.at("width_multiple").get<int64_t>();
    r.ffn_ratio = j.at("ffn_ratio").get<double>();
    r.ffn_multiple = j.at("ffn_multiple").get<int64_t>();
    r.aspect_ratio = j.at("aspect_ratio").get<double>();
    r.min_layers = j.at("min_layers").get<int64_t>();
    r.max_layers = j.at("max_layers").get<int64_t>();
    r.max_d_model = j.at("max_d_model").get<int64_t>();
    r.tolerance = j.at("tolerance").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw UserError(fmt::format("stored shape rule: {}", e.what()));
  }
  ValidateShapeRule(r);
  return r;
}

SweepPlan PlanSweep(const SweepSpec& spec) {
  SweepPlan plan;
  plan.sweep = spec.name;
  plan.spec_toml = spec.source_toml;
  plan.facts = FactsOf(spec);
  std::vector<PlannedRun> text_lms, dependents;
  std::set<std::string> text_lm_ids, dependent_ids;

  for (const ConditionSpec& cond : spec.conditions) {
    const DesignSpec& d = cond.design;
    struct Column {
      std::string label;
      double budget = 0, tokens_per_param = 0;
      int64_t tokens = 0;
    };
    std::vector<Column> columns;
    for (double b : d.budgets) columns.push_back({FormatNumber(b), b, 0, 0});
    for (double r : d.tokens_per_param) columns.push_back({FormatNumber(r), 0, r, 0});
    for (int64_t t : d.tokens) columns.push_back({std::to_string(t), 0, 0, t});
    std::vector<bool> override_used(cond.overrides.size(), false);
    size_t planned_here = 0, skipped_here = 0;
    std::string first_skip;

    for (const SizeSpec& size : d.sizes) {
      for (const Column& col : columns) {
        Hyperparameters hp = cond.hp;
        std::string hp_where = cond.origin.Where();
        for (size_t i = 0; i < cond.overrides.size(); ++i) {
          const RunOverride& o = cond.overrides[i];
          if (o.size && *o.size != size.target_non_embedding) continue;
          if (o.label && *o.label != size.label) continue;
          if (o.budget && !SameBudget(*o.budget, col.budget)) continue;
          hp = Apply(hp, o.hp);
          hp_where = o.origin.Where();
          override_used[i] = true;
        }
        ValidateHyperparameters(hp, hp_where);

        const int64_t n = ConventionParams(spec, size.shape);
        const double per_token = FlopsPerToken(spec, size.shape, hp.context);
        double requested = 0;
        if (col.budget > 0) requested = col.budget / per_token;
        if (col.tokens_per_param > 0) requested = col.tokens_per_param * static_cast<double>(n);
        if (col.tokens > 0) requested = static_cast<double>(col.tokens);
        const double tpp = requested / static_cast<double>(n);
        const int64_t min_tokens = d.min_tokens > 0 ? d.min_tokens : hp.batch_tokens;
        std::string reason;
        if (requested < static_cast<double>(min_tokens)) {
          reason = fmt::format("D = {} tokens is below min_tokens = {}", FormatNumber(requested),
                               min_tokens);
        } else if (d.min_tokens_per_param > 0 && tpp < d.min_tokens_per_param) {
          reason = fmt::format("{:.3g} tokens/param is below min_tokens_per_param = {}", tpp,
                               d.min_tokens_per_param);
        } else if (d.max_tokens_per_param > 0 && tpp > d.max_tokens_per_param) {
          reason = fmt::format("{:.3g} tokens/param is above max_tokens_per_param = {}", tpp,
                               d.max_tokens_per_param);
        } else if (requested > kMaxTokens) {
          reason =
              fmt::format("D = {} tokens is above the 1e16 sims plans", FormatNumber(requested));
        }
        if (!reason.empty()) {
          plan.skipped.push_back({cond.name, size.label, col.label, reason});
          if (first_skip.empty()) first_skip = size.label + " x " + col.label + ": " + reason;
          ++skipped_here;
          continue;
        }

        PlannedRun run;
        RunConfig& c = run.config;
        c.sweep = spec.name;
        c.condition = cond.name;
        c.design = d.kind;
        c.seed = spec.seed;
        c.shape = size.shape;
        c.mixture = cond.mixture;
        c.init.kind = cond.init;
        c.hp = hp;
        c.budget_flops = col.budget;
        c.corpus = spec.corpus;
        Account(spec, requested, c);
        if (cond.init == "checkpoint") c.init.checkpoint_path = size.checkpoint;
        if (cond.init == "text-lm") {
          // The text LM of this shape: condition "text-lm", text stream only, scratch init.
          const TextLmSpec& lm = *spec.text_lm;
          PlannedRun base;
          RunConfig& b = base.config;
          b.sweep = spec.name;
          b.condition = "text-lm";
          b.design = "text-lm";
          b.seed = spec.seed;
          b.shape = size.shape;
          b.mixture = DataMixture{1, 0, 0};
          b.hp = lm.hp;
          b.corpus = spec.corpus;
          const int64_t lm_n = ConventionParams(spec, size.shape);
          double lm_tokens = static_cast<double>(lm.tokens);
          if (lm.tokens_per_param > 0) lm_tokens = lm.tokens_per_param * static_cast<double>(lm_n);
          if (lm.flops > 0) lm_tokens = lm.flops / FlopsPerToken(spec, size.shape, lm.hp.context);
          if (lm_tokens > kMaxTokens) {
            throw UserError(
                fmt::format("{}: the text LM of size {} would train on {} tokens, "
                            "above the 1e16 sims plans",
                            lm.origin.Where(), size.label, FormatNumber(lm_tokens)));
          }
          Account(spec, lm_tokens, b);
          base.id = RunId(b);
          base.size_label = size.label;
          base.column_label = "text-lm";
          base.tokens_requested = lm_tokens;
          base.tokens_per_param = static_cast<double>(b.tokens) / static_cast<double>(lm_n);
          if (text_lm_ids.insert(base.id).second) text_lms.push_back(base);
          c.init.run_id = base.id;
          c.depends_on = {base.id};
        }
        run.id = RunId(c);
        if (!dependent_ids.insert(run.id).second) {
          throw UserError(fmt::format(
              "{}: two points of condition '{}' resolve to the same run ({} x {}); remove the "
              "duplicate size or column",
              d.origin.Where(), cond.name, size.label, col.label));
        }
        run.size_label = size.label;
        run.column_label = col.label;
        run.tokens_requested = requested;
        run.tokens_per_param = static_cast<double>(c.tokens) / static_cast<double>(n);
        dependents.push_back(std::move(run));
        ++planned_here;
      }
    }
    if (planned_here == 0) {
      throw UserError(fmt::format(
          "{}: the design of condition '{}' yields no run: all {} points were skipped (first: "
          "{}) (hint: widen min/max_tokens_per_param, lower min_tokens, or change budgets/sizes)",
          d.origin.Where(), cond.name, skipped_here, first_skip));
    }
    for (size_t i = 0; i < cond.overrides.size(); ++i) {
      if (!override_used[i]) {
        throw UserError(
            fmt::format("{}: this override matches no run of condition '{}' (check "
                        "its size/label/budget against the design)",
                        cond.overrides[i].origin.Where(), cond.name));
      }
    }
  }
  // Conditions have distinct names, so ids are unique across the plan.
  plan.runs = std::move(text_lms);
  for (PlannedRun& r : dependents) plan.runs.push_back(std::move(r));
  return plan;
}

StoreResult PlanIntoStore(Store& store, const SweepPlan& plan, bool dry_run) {
  StoreResult result;
  for (const PlannedRun& r : plan.runs) {
    (store.GetRun(r.id) ? result.existing_ids : result.new_ids).push_back(r.id);
  }
  if (dry_run) {
    if (auto sweep = store.FindSweep(plan.sweep)) result.sweep_id = sweep->id;
    return result;
  }
  result.sweep_id = store.UpsertSweep(plan.sweep, plan.spec_toml, plan.facts);
  std::vector<NewRun> runs;
  for (const PlannedRun& r : plan.runs) {
    NewRun n;
    n.id = r.id;
    n.condition = r.config.condition;
    n.n_params = r.config.n_params;
    n.n_params_non_embedding = r.config.n_params_non_embedding;
    n.tokens = r.config.tokens;
    n.steps = r.config.steps;
    n.flops = r.config.flops;
    n.flops_per_token = r.config.flops / static_cast<double>(r.config.tokens);
    n.budget_flops = r.config.budget_flops;
    n.config_json = ToJson(r.config).dump();
    n.depends_on = r.config.depends_on;
    runs.push_back(std::move(n));
  }
  store.InsertRuns(result.sweep_id, runs);
  return result;
}

}  // namespace sims
