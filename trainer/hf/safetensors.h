#pragma once
// Reading and writing Hugging Face safetensors checkpoints, without torch (sims_hf_io).
// Call OpenCheckpoint(dir) for a model directory (one `model.safetensors`, or shards listed in
// `model.safetensors.index.json`), or ReadSafetensorsHeader(file) for one file; then
// ReadFloats(tensor) per tensor. WriteSafetensors writes one file (f32 or bf16).
//
// Format (https://huggingface.co/docs/safetensors): u64 little-endian header length N, N bytes
// of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then
// the raw little-endian tensor bytes, offsets relative to the end of the header. Tensors are
// read one at a time with pread-style I/O, so a 15 GB checkpoint never has to fit in memory twice.
// Every error is a UserError naming the file, the tensor and what is wrong.
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace sims::hf {

struct TensorInfo {
  std::string name;
  std::string dtype;            // safetensors spelling: F32, F16, BF16, I64, ...
  std::vector<int64_t> shape;   // empty for a scalar
  std::string file;             // the .safetensors file that holds the bytes
  uint64_t offset = 0;          // absolute byte offset of the data in `file`
  uint64_t bytes = 0;
  int64_t numel() const;
};

struct Checkpoint {
  std::map<std::string, TensorInfo> tensors;         // by name, across all shards
  std::map<std::string, std::string> metadata;       // "__metadata__" of the (first) file
  const TensorInfo& at(const std::string& name) const;  // UserError naming the missing tensor
  bool has(const std::string& name) const { return tensors.count(name) != 0; }
};

// Size in bytes of one element of `dtype`; UserError for an unknown dtype.
int DtypeBytes(const std::string& dtype);

// Parses and validates one file's header: dtypes known, offsets contiguous-or-not but inside the
// file and matching shape x dtype size, no overlapping ranges.
Checkpoint ReadSafetensorsHeader(const std::string& path);

// A model directory: `model.safetensors.index.json` (sharded) if present, else
// `model.safetensors`; a path to a single .safetensors file also works.
Checkpoint OpenCheckpoint(const std::string& path);

// The tensor's values as float32. F32 is copied, F16 and BF16 are widened exactly; F64 is
// rounded. Any other dtype is a UserError naming the tensor.
std::vector<float> ReadFloats(const TensorInfo& tensor);
// I64/I32/I16/I8/U8 as int64 (e.g. reference token ids).
std::vector<int64_t> ReadInts(const TensorInfo& tensor);

// bf16 <-> f32: round-to-nearest-even, NaN kept a NaN. f16 -> f32 exactly.
uint16_t FloatToBf16(float value);
float Bf16ToFloat(uint16_t bits);
float F16ToFloat(uint16_t bits);

struct TensorToWrite {
  std::string name;
  std::vector<int64_t> shape;
  std::span<const float> values;  // row-major, numel(shape) values
};

// Writes `path` atomically (temp file + rename) with every tensor stored as `dtype` ("F32" or
// "BF16"), in the order given, header padded to 8 bytes as the reference writer does.
void WriteSafetensors(const std::string& path, std::span<const TensorToWrite> tensors,
                      const std::string& dtype = "F32",
                      const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace sims::hf
