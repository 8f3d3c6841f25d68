#pragma once
// The precompiled header of every torch translation unit (sims_trainer and the trainer tests,
// which reuse it with REUSE_FROM). <torch/torch.h> costs ~13 s per TU on this machine; with this
// header it is parsed once per build. Add only headers that nearly every torch TU includes.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>
