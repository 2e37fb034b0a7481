#include "tests/support/chat_template_model.h"

#include "engine/gguf.h"
#include "engine/gguf_writer.h"
#include "resources/embedded_model.h"

namespace kvscope::test {

const char* const kMistralLegacyTemplate =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == "
    "'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles "
    "are supported!') }}{% endif %}{% endfor %}";

const char* const kPhi3Template =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + '\n' + "
    "message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}{% elif (message['role'] == 'assistant') "
    "%}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}";

std::string write_model_with_chat_template(const std::string& path, const std::string& jinja_source) {
    const GgufFile in = GgufFile::from_memory(embedded_model_bytes(), "stories260K.gguf");
    GgufWriter w;
    for (const auto& [key, value] : in.metadata()) w.set(key, value);
    w.set_string("tokenizer.chat_template", jinja_source);
    for (const GgufTensorInfo& t : in.tensors()) w.add_tensor(t.name, t.shape, t.type, in.tensor_data(t));
    w.write(path);
    return path;
}

}  // namespace kvscope::test
