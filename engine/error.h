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

// A request that the engine as configured can never serve: it needs more KV blocks than the cache
// has, or more tokens computed in one step than a step allows. what() is the reason and what to
// do; a caller whose users know other knobs (perplexity's chunk size) words its own from reason().
class RequestTooLargeError : public ConfigError {
public:
    enum class Limit { kv_blocks, step_tokens };
    RequestTooLargeError(Limit limit, const std::string& reason, const std::string& remedy)
        : ConfigError(reason + "; " + remedy), limit_(limit), reason_(reason) {}
    Limit limit() const { return limit_; }
    const std::string& reason() const { return reason_; }

private:
    Limit limit_;
    std::string reason_;
};

}  // namespace kvscope
