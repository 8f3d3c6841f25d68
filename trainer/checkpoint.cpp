#include "trainer/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.h"

namespace sims::trainer {
namespace fs = std::filesystem;
namespace {

// fsync a file or directory so that a rename after it is durable; best effort on filesystems
// that refuse fsync on directories.
void SyncPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

[[noreturn]] void FailWrite(const std::string& path, const std::string& temp,
                           const std::string& cause) {
  std::remove(temp.c_str());
  throw UserError(fmt::format("cannot write {}: {}; the previous checkpoint is kept; hint: free "
                              "space on that disk (or lower keep_checkpoints) and resume the run",
                              path, cause));
}

// Streams the archive into "<path>.tmp" through our own FILE*, fsyncs and renames it. LibTorch
// never sees a failed write: its zip writer, told of one, throws, and then throws again from its
// destructor, which terminates the process ("Abort", no message, as on a full disk). So the
// writer below reports success to LibTorch, remembers the first error, and this function throws
// a UserError with the path and the cause once save_to has returned; the old checkpoints are
// untouched because nothing is renamed or pruned.
void WriteAtomically(torch::serialize::OutputArchive& archive, const std::string& path) {
  const std::string temp = path + ".tmp";
  std::FILE* file = std::fopen(temp.c_str(), "wb");
  if (file == nullptr) FailWrite(path, temp, std::strerror(errno));
  int error = 0;
  try {
    archive.save_to([&](const void* data, size_t size) -> size_t {
      if (error == 0 && size > 0 && std::fwrite(data, 1, size, file) != size) {
        error = errno != 0 ? errno : EIO;
      }
      return size;
    });
  } catch (const c10::Error& e) {
    std::fclose(file);
    FailWrite(path, temp, e.what_without_backtrace());
  }
  if (std::fflush(file) != 0 && error == 0) error = errno;
  if (::fsync(::fileno(file)) != 0 && error == 0 && errno != EINVAL) error = errno;
  if (std::fclose(file) != 0 && error == 0) error = errno;
  if (error != 0) FailWrite(path, temp, std::strerror(error));
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) FailWrite(path, temp, ec.message());
  SyncPath(fs::path(path).parent_path().string());
}

void WriteHeader(torch::serialize::OutputArchive& archive, const std::string& format,
                 const std::string& run_id) {
  archive.write("format", c10::IValue(format));
  archive.write("version", c10::IValue(kCheckpointVersion));
  archive.write("run_id", c10::IValue(run_id));
}

// Reads and checks the header (versions 1 to kCheckpointVersion; weights files are the same in
// both); returns the run id stored in it and the version in *version.
std::string ReadHeader(torch::serialize::InputArchive& archive, const std::string& path,
                       const std::string& format, int64_t* version = nullptr) {
  c10::IValue value;
  if (!archive.try_read("format", value) || !value.isString() || value.toStringRef() != format) {
    throw UserError(fmt::format("{}: not a {} file", path, format));
  }
  archive.read("version", value);
  if (value.toInt() < 1 || value.toInt() > kCheckpointVersion) {
    throw UserError(fmt::format("{}: {} version {} is not supported (this sims reads 1 to {})",
                                path, format, value.toInt(), kCheckpointVersion));
  }
  if (version != nullptr) *version = value.toInt();
  archive.read("run_id", value);
  return value.toStringRef();
}

// Tensors are mapped onto `device` (a run trained on CUDA may start one on the CPU).
torch::serialize::InputArchive OpenArchive(const std::string& path, const std::string& what,
                                           const torch::Device& device) {
  if (!fs::exists(path)) throw UserError(fmt::format("{} {} does not exist", what, path));
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, device);
  } catch (const c10::Error& e) {
    throw UserError(fmt::format("{} {} cannot be read: {}", what, path, e.what_without_backtrace()));
  }
  return archive;
}

void LoadModel(torch::serialize::InputArchive& archive, const std::string& path, Decoder& model) {
  torch::serialize::InputArchive sub;
  archive.read("model", sub);
  // Module::load replaces each tensor with the stored one (set_), whatever its size, so the
  // shapes are compared here: a text LM of another shape must not load silently.
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  for (const auto& p : model->named_parameters()) expected.emplace_back(p.key(), p.value().sizes().vec());
  try {
    model->load(sub);
  } catch (const c10::Error& e) {
    throw UserError(fmt::format("{}: weights do not fit this model: {}", path,
                                e.what_without_backtrace()));
  }
  auto loaded = model->named_parameters();
  for (const auto& [name, sizes] : expected) {
    if (loaded[name].sizes().vec() != sizes) {
      throw UserError(fmt::format("{}: {} has shape [{}], this model's is [{}]; hint: init "
                                  "weights must come from a run of the same shape",
                                  path, name, fmt::join(loaded[name].sizes().vec(), ", "),
                                  fmt::join(sizes, ", ")));
    }
  }
}

// Version 2: a sub-archive "p<i>" per parameter with state, holding its name, step and moments.
void WriteSlots(torch::serialize::OutputArchive& archive, const std::vector<AdamWSlot>& slots) {
  for (size_t i = 0; i < slots.size(); ++i) {
    if (slots[i].step == 0) continue;
    torch::serialize::OutputArchive slot;
    slot.write("name", c10::IValue(slots[i].name));
    slot.write("step", c10::IValue(slots[i].step));
    slot.write("exp_avg", slots[i].exp_avg);
    slot.write("exp_avg_sq", slots[i].exp_avg_sq);
    archive.write(fmt::format("p{}", i), slot);
  }
}

std::vector<AdamWSlot> ReadSlots(torch::serialize::InputArchive& archive, Decoder& model) {
  std::vector<AdamWSlot> slots;
  size_t i = 0;
  for (const auto& item : model->named_parameters()) {
    AdamWSlot slot{item.key()};
    torch::serialize::InputArchive stored;
    if (archive.try_read(fmt::format("p{}", i++), stored)) {
      c10::IValue value;
      stored.read("name", value);
      slot.name = value.toStringRef();
      stored.read("step", value);
      slot.step = value.toInt();
      stored.read("exp_avg", slot.exp_avg);
      stored.read("exp_avg_sq", slot.exp_avg_sq);
    }
    slots.push_back(std::move(slot));
  }
  return slots;
}

std::vector<std::pair<int64_t, fs::path>> Checkpoints(const std::string& run_dir) {
  std::vector<std::pair<int64_t, fs::path>> found;
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  if (!fs::is_directory(dir)) return found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("step-") || !name.ends_with(".pt")) continue;  // skips *.pt.tmp
    found.emplace_back(std::stoll(name.substr(5, name.size() - 8)), entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace

std::string SaveCheckpoint(const std::string& run_dir, const std::string& run_id,
                           const TrainState& state, Decoder& model,
                           const std::vector<AdamWSlot>& optimizer, int keep) {
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  fs::create_directories(dir);
  torch::serialize::OutputArchive archive;
  WriteHeader(archive, "sims-checkpoint", run_id);
  archive.write("step", c10::IValue(state.step));
  archive.write("tokens", c10::IValue(state.tokens));
  archive.write("samples", c10::IValue(state.samples));
  torch::serialize::OutputArchive model_archive, optimizer_archive;
  model->save(model_archive);
  WriteSlots(optimizer_archive, optimizer);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  const std::string path = (dir / fmt::format("step-{:09d}.pt", state.step)).string();
  WriteAtomically(archive, path);

  auto all = Checkpoints(run_dir);
  for (size_t i = 0; i + std::max(keep, 1) < all.size(); ++i) fs::remove(all[i].second);
  return path;
}

std::optional<std::string> NewestCheckpoint(const std::string& run_dir) {
  auto all = Checkpoints(run_dir);
  if (all.empty()) return std::nullopt;
  return all.back().second.string();
}

LoadedCheckpoint LoadCheckpoint(const std::string& path, const std::string& run_id,
                                Decoder& model, const Hyperparameters& hp) {
  torch::serialize::InputArchive archive = OpenArchive(path, "checkpoint", model->parameters().front().device());
  int64_t version = 0;
  const std::string stored_run = ReadHeader(archive, path, "sims-checkpoint", &version);
  if (stored_run != run_id) {
    throw UserError(fmt::format("{} belongs to run {}, not {}; hint: the run directory is shared "
                                "or was copied, remove the checkpoint",
                                path, stored_run, run_id));
  }
  LoadedCheckpoint loaded;
  TrainState& state = loaded.state;
  c10::IValue value;
  archive.read("step", value);
  state.step = value.toInt();
  archive.read("tokens", value);
  state.tokens = value.toInt();
  archive.read("samples", value);
  state.samples = value.toInt();
  LoadModel(archive, path, model);
  torch::serialize::InputArchive optimizer_archive;
  archive.read("optimizer", optimizer_archive);
  if (version == 1) {  // LibTorch's archive of a whole AdamW: read through one
    auto optimizer = MakeAdamW(model, hp);
    optimizer->load(optimizer_archive);
    loaded.optimizer = ReadAdamW(*optimizer, model);
  } else {
    loaded.optimizer = ReadSlots(optimizer_archive, model);
  }
  return loaded;
}

void SaveWeights(const std::string& path, const std::string& run_id, Decoder& model) {
  fs::create_directories(fs::path(path).parent_path());
  torch::serialize::OutputArchive archive;
  WriteHeader(archive, "sims-weights", run_id);
  torch::serialize::OutputArchive model_archive;
  model->save(model_archive);
  archive.write("model", model_archive);
  WriteAtomically(archive, path);
}

void LoadWeights(const std::string& path, Decoder& model) {
  torch::serialize::InputArchive archive = OpenArchive(path, "weights file", model->parameters().front().device());
  ReadHeader(archive, path, "sims-weights");
  LoadModel(archive, path, model);
}

void InitUntrainedRows(torch::Tensor weight, const corpus::Vocabulary& vocab, uint64_t seed) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> trained = {vocab.bos, vocab.eos};
  std::vector<int64_t> fresh = {vocab.speech_marker, vocab.text_marker};
  for (int32_t j = 0; j < vocab.text_count; ++j) {
    const int32_t id = vocab.Text(j);
    if (id != vocab.bos && id != vocab.eos) trained.push_back(id);  // HF: BOS/EOS may be text
  }
  for (int32_t k = 0; k < vocab.unit_count; ++k) fresh.push_back(vocab.Unit(k));
  const auto index = [&](const std::vector<int64_t>& ids) {
    return torch::tensor(ids, torch::kInt64).to(weight.device());
  };
  torch::Tensor rows = weight.index_select(0, index(trained)).to(torch::kFloat).cpu();
  torch::Tensor mean = rows.mean(0);
  const double sd = rows.std().item<double>();
  auto generator = at::detail::createCPUGenerator(seed);
  torch::Tensor noise =
      at::normal(0.0, 1.0, {static_cast<int64_t>(fresh.size()), weight.size(1)}, generator);
  torch::Tensor init = mean.unsqueeze(0) + 0.1 * sd * noise;
  weight.index_copy_(0, index(fresh), init.to(weight.device()).to(weight.scalar_type()));
}

}  // namespace sims::trainer
