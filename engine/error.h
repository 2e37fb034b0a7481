#pragma once
// Typed errors for bad input. Each message is one line a user can act on:
// what is wrong, where (file, offset, key, tensor, field), and what to do about it.
// Running out of KV blocks is not an error: it is a value the scheduler handles.

#include <stdexcept>
#include <string>

namespace kvscope {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A file that cannot be read or is not well-formed (GGUF, JSONL prompts, traces, settings).
class FileError : public Error {
public:
    using Error::Error;
};

// A well-formed model file that this engine cannot run: unsupported architecture or tensor
// type, a missing key or tensor, shapes that contradict the hyperparameters.
class ModelError : public Error {
public:
    using Error::Error;
};

// A request or setting with invalid values (sampling parameters, cache configuration, flags).
class ConfigError : public Error {
public:
    using Error::Error;
};

}  // namespace kvscope
