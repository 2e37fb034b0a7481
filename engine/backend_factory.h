#pragma once
// Chooses and builds the backend an engine runs on: CUDA when the configuration asks for it
// (cuda or auto), this build has it and a device exists; otherwise the CPU, with a one-line
// note saying why, for the caller to show once.

#include <memory>
#include <string>

#include "engine/config.h"
#include "engine/model.h"
#include "kernels/backend.h"

namespace kvscope {

struct BackendChoice {
    std::unique_ptr<Backend> backend;
    // The configuration to build the engine with: as given, with num_kv_blocks set to the
    // blocks the backend holds (a CUDA cache sized by gpu_memory_utilization).
    EngineConfig config;
    // "kvscope: no CUDA device (...); using the CPU backend" when CUDA was asked for (or auto)
    // and the CPU runs; empty otherwise.
    std::string note;
};

// Throws ConfigError for a configuration the model cannot use, or when the CUDA backend
// cannot be built on the device that exists (not enough memory, say), saying why.
BackendChoice make_backend(const Model& model, const EngineConfig& config);

}  // namespace kvscope
