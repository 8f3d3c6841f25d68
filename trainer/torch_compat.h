#pragma once
// The ONE place where sims code differs between LibTorch 1.13 (Debian, CPU, CI) and LibTorch
// 2.x (pip wheels, CUDA). Everything else in trainer/ is written against the common API.
//   - CausalAttention: at::scaled_dot_product_attention on 2.x (flash / memory-efficient
//     kernels on CUDA, a fused kernel on CPU); an explicit masked softmax on 1.13, which has
//     only a private _scaled_dot_product_attention.
//   - AutocastBf16: the autocast switches were renamed in 2.x (set_autocast_enabled(device, ..)).
//   - OptimizerStateKey: an optimizer's per-parameter state is keyed by the TensorImpl's
//     address as text in 1.13 and by the address itself in later versions.
//   - CpuAllocatorCompat: c10::Allocator::allocate lost its const in 2.x, which also added the
//     pure virtual copy_data.
// scripts/check-torch2 compiles the 2.x branch against the pip wheel's LibTorch with CUDA.
#include <torch/torch.h>
#include <torch/version.h>

#include <ATen/autocast_mode.h>
#include <c10/core/Allocator.h>

#include <cstring>
#include <sstream>
#include <type_traits>

#define SIMS_TORCH2 (TORCH_VERSION_MAJOR >= 2)

namespace sims::trainer {

// Causal self-attention. q: (B, nh, T, hs); k, v: (B, nkv, T, hs) with nh % nkv == 0 (grouped-
// query attention: kv head j serves query heads j*nh/nkv .. (j+1)*nh/nkv - 1, as in Hugging
// Face's repeat_kv). Returns (B, nh, T, hs). Softmax scale 1/sqrt(hs).
inline torch::Tensor CausalAttention(torch::Tensor q, torch::Tensor k, torch::Tensor v) {
  const int64_t heads = q.size(1), kv_heads = k.size(1);
  if (kv_heads != heads) {
    k = k.repeat_interleave(heads / kv_heads, /*dim=*/1);  // (B, nh, T, hs)
    v = v.repeat_interleave(heads / kv_heads, /*dim=*/1);
  }
#if SIMS_TORCH2
  return at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, /*dropout_p=*/0.0,
                                          /*is_causal=*/true);
#else
  const int64_t T = q.size(2);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  torch::Tensor att = torch::matmul(q, k.transpose(-2, -1)) * scale;  // (B, nh, T, T)
  torch::Tensor future =
      torch::ones({T, T}, torch::TensorOptions().dtype(torch::kBool).device(q.device())).triu(1);
  att = att.masked_fill(future, -std::numeric_limits<float>::infinity());
  att = torch::softmax(att, /*dim=*/-1);
  return torch::matmul(att, v);  // (B, nh, T, hs)
#endif
}

// bf16 autocast on CUDA for the lifetime of the object (forward pass and loss only; the
// backward pass runs outside it, as torch.autocast prescribes). Does nothing when !enabled.
class AutocastBf16 {
 public:
  explicit AutocastBf16(bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
#if SIMS_TORCH2
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
#endif
  }
  ~AutocastBf16() {
    if (!enabled_) return;
#if SIMS_TORCH2
    at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
    at::autocast::set_enabled(false);
#endif
    at::autocast::clear_cache();  // casts are cached per forward; free them as torch.autocast does
  }
  AutocastBf16(const AutocastBf16&) = delete;
  AutocastBf16& operator=(const AutocastBf16&) = delete;

 private:
  bool enabled_;
};

// The key of parameter p in optimizer.state(), whichever the version's key type is.
template <typename Optimizer>
auto OptimizerStateKey(Optimizer& optimizer, const torch::Tensor& p) {
  using Key = typename std::decay_t<decltype(optimizer.state())>::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;  // what c10::guts::to_string writes: the pointer through <<
    text << p.unsafeGetTensorImpl();
    return text.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

// A CPU c10::Allocator written once for both versions: derive and implement Allocate. Both
// forms of allocate are defined without `override`, so whichever one the version's base class
// declares virtual is overridden (a version check would have to know the release that dropped
// the const); copy_data is what 2.x's default_copy_data does, and unused in 1.13.
class CpuAllocatorCompat : public c10::Allocator {
 public:
  virtual c10::DataPtr Allocate(size_t bytes) const = 0;
  c10::DataPtr allocate(size_t bytes) const { return Allocate(bytes); }  // 1.13
  c10::DataPtr allocate(size_t bytes) { return Allocate(bytes); }        // 2.x
  void copy_data(void* dest, const void* src, std::size_t count) const {
    std::memcpy(dest, src, count);
  }
};

}  // namespace sims::trainer
