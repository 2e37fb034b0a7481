#pragma once
// What a request without "model" runs on an OpenAI-compatible server: the first model its
// GET /v1/models lists (bench serve and perplexity --url ask it when no model is given).

#include <httplib.h>

#include <string>

namespace kvscope::server {

// Throws ConfigError when the server at `url` cannot be reached, refuses, or lists none (then it
// says to give `model_option`, e.g. "--model").
std::string first_served_model(httplib::Client& client, const std::string& url, const std::string& model_option);

}  // namespace kvscope::server
