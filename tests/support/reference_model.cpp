#include "tests/support/reference_model.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/quant.h"

namespace kvscope::test {
namespace {

std::vector<float> rms_norm(const std::vector<float>& x, const std::vector<float>& w, double eps) {
    double ss = 0;
    for (float v : x) ss += double(v) * v;
    const double scale = 1.0 / std::sqrt(ss / double(x.size()) + eps);
    std::vector<float> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = float(x[i] * scale * w[i]);
    return y;
}

}  // namespace

ReferenceModel::Matrix ReferenceModel::load_matrix(const GgufFile& file, const char* name) const {
    const GgufTensorInfo* t = file.find_tensor(name);
    if (t == nullptr) throw std::runtime_error(std::string("reference: missing tensor ") + name);
    Matrix m;
    m.cols = int(t->shape[0]);
    m.rows = t->shape.size() > 1 ? int(t->shape[1]) : 1;
    m.data.resize(size_t(m.rows) * m.cols);
    const auto bytes = file.tensor_data(*t);
    const size_t row_size = row_bytes(t->type, m.cols);
    for (int r = 0; r < m.rows; ++r) {
        dequantize_row(t->type, bytes.data() + size_t(r) * row_size, m.data.data() + size_t(r) * m.cols, m.cols);
    }
    const bool requantize =
        weight_type_ && m.rows > 1 && *weight_type_ != t->type && m.cols % type_info(*weight_type_).block_elems == 0;
    if (requantize) {
        std::vector<std::uint8_t> packed(row_bytes(*weight_type_, m.cols));
        for (int r = 0; r < m.rows; ++r) {
            float* row = m.data.data() + size_t(r) * m.cols;
            quantize_row(*weight_type_, row, packed.data(), m.cols);
            dequantize_row(*weight_type_, packed.data(), row, m.cols);
        }
    }
    return m;
}

std::vector<float> ReferenceModel::load_vector(const GgufFile& file, const char* name, bool optional) const {
    if (optional && file.find_tensor(name) == nullptr) return {};
    return load_matrix(file, name).data;
}

ReferenceModel::ReferenceModel(const GgufFile& file) : ReferenceModel(file, std::nullopt) {}

ReferenceModel::ReferenceModel(const GgufFile& file, std::optional<TensorType> weight_type)
    : weight_type_(weight_type) {
    const std::string arch = file.require_string("general.architecture");
    neox_rope_ = arch == "qwen2";
    num_layers_ = int(file.require_int(arch + ".block_count"));
    dim_ = int(file.require_int(arch + ".embedding_length"));
    ffn_dim_ = int(file.require_int(arch + ".feed_forward_length"));
    num_heads_ = int(file.require_int(arch + ".attention.head_count"));
    num_kv_heads_ = int(file.get_int(arch + ".attention.head_count_kv").value_or(num_heads_));
    head_dim_ = dim_ / num_heads_;
    rope_dim_ = int(file.get_int(arch + ".rope.dimension_count").value_or(head_dim_));
    rope_base_ = file.get_float(arch + ".rope.freq_base").value_or(10000.0);
    eps_ = file.require_float(arch + ".attention.layer_norm_rms_epsilon");

    embedding_ = load_matrix(file, "token_embd.weight");
    vocab_size_ = embedding_.rows;
    output_norm_ = load_vector(file, "output_norm.weight", false);
    output_ = file.find_tensor("output.weight") ? load_matrix(file, "output.weight") : embedding_;
    for (int l = 0; l < num_layers_; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        auto name = [&](const char* s) { return p + s; };
        Layer layer;
        layer.attn_norm = load_vector(file, name("attn_norm.weight").c_str(), false);
        layer.ffn_norm = load_vector(file, name("ffn_norm.weight").c_str(), false);
        layer.wq = load_matrix(file, name("attn_q.weight").c_str());
        layer.wk = load_matrix(file, name("attn_k.weight").c_str());
        layer.wv = load_matrix(file, name("attn_v.weight").c_str());
        layer.wo = load_matrix(file, name("attn_output.weight").c_str());
        layer.bq = load_vector(file, name("attn_q.bias").c_str(), true);
        layer.bk = load_vector(file, name("attn_k.bias").c_str(), true);
        layer.bv = load_vector(file, name("attn_v.bias").c_str(), true);
        layer.gate = load_matrix(file, name("ffn_gate.weight").c_str());
        layer.up = load_matrix(file, name("ffn_up.weight").c_str());
        layer.down = load_matrix(file, name("ffn_down.weight").c_str());
        layers_.push_back(std::move(layer));
    }
    reset();
}

void ReferenceModel::reset() {
    k_cache_.assign(size_t(num_layers_), {});
    v_cache_.assign(size_t(num_layers_), {});
}

void ReferenceModel::matvec(const Matrix& w, const std::vector<float>& x, std::vector<float>& y) const {
    y.assign(size_t(w.rows), 0.0f);
    for (int r = 0; r < w.rows; ++r) {
        double acc = 0;
        const float* row = w.data.data() + size_t(r) * w.cols;
        for (int c = 0; c < w.cols; ++c) acc += double(row[c]) * x[size_t(c)];
        y[size_t(r)] = float(acc);
    }
}

std::vector<float> ReferenceModel::step(std::int32_t token) {
    const int pos = int(k_cache_[0].size());
    const int group = num_heads_ / num_kv_heads_;

    // x = embedding row of the token
    std::vector<float> x(embedding_.data.begin() + size_t(token) * dim_,
                         embedding_.data.begin() + size_t(token + 1) * dim_);
    std::vector<float> q, k, v, proj, gate, up;
    std::vector<float> attn(static_cast<size_t>(dim_));

    // rotate pairs of one head by the position's angles
    auto rope = [&](float* head) {
        for (int i = 0; i < rope_dim_ / 2; ++i) {
            const double theta = pos * std::pow(rope_base_, -2.0 * i / rope_dim_);
            const int a = neox_rope_ ? i : 2 * i;
            const int b = neox_rope_ ? i + rope_dim_ / 2 : 2 * i + 1;
            const double x0 = head[a], x1 = head[b];
            head[a] = float(x0 * std::cos(theta) - x1 * std::sin(theta));
            head[b] = float(x0 * std::sin(theta) + x1 * std::cos(theta));
        }
    };

    for (int l = 0; l < num_layers_; ++l) {
        Layer& L = layers_[size_t(l)];
        // attention block: norm, projections (+ bias), rope, cache append
        std::vector<float> xb = rms_norm(x, L.attn_norm, eps_);
        matvec(L.wq, xb, q);
        matvec(L.wk, xb, k);
        matvec(L.wv, xb, v);
        for (size_t i = 0; i < L.bq.size(); ++i) q[i] += L.bq[i];
        for (size_t i = 0; i < L.bk.size(); ++i) k[i] += L.bk[i];
        for (size_t i = 0; i < L.bv.size(); ++i) v[i] += L.bv[i];
        for (int h = 0; h < num_heads_; ++h) rope(q.data() + h * head_dim_);
        for (int h = 0; h < num_kv_heads_; ++h) rope(k.data() + h * head_dim_);
        if (cache_type_ != TensorType::F32) {
            std::vector<std::uint8_t> bytes(row_bytes(cache_type_, std::int64_t(k.size())));
            for (std::vector<float>* row : {&k, &v}) {
                quantize_row(cache_type_, row->data(), bytes.data(), std::int64_t(row->size()));
                dequantize_row(cache_type_, bytes.data(), row->data(), std::int64_t(row->size()));
            }
        }
        k_cache_[size_t(l)].push_back(k);
        v_cache_[size_t(l)].push_back(v);

        // softmax(q k^T / sqrt(d)) v per head, over positions 0..pos
        for (int h = 0; h < num_heads_; ++h) {
            const int kvh = h / group;
            std::vector<double> scores(size_t(pos) + 1);
            double max_score = -1e300;
            for (int t = 0; t <= pos; ++t) {
                double s = 0;
                for (int d = 0; d < head_dim_; ++d) {
                    s += double(q[size_t(h * head_dim_ + d)]) *
                         k_cache_[size_t(l)][size_t(t)][size_t(kvh * head_dim_ + d)];
                }
                scores[size_t(t)] = s / std::sqrt(double(head_dim_));
                max_score = std::max(max_score, scores[size_t(t)]);
            }
            double sum = 0;
            for (double& s : scores) sum += (s = std::exp(s - max_score));
            for (int d = 0; d < head_dim_; ++d) {
                double acc = 0;
                for (int t = 0; t <= pos; ++t) {
                    acc += scores[size_t(t)] / sum * v_cache_[size_t(l)][size_t(t)][size_t(kvh * head_dim_ + d)];
                }
                attn[size_t(h * head_dim_ + d)] = float(acc);
            }
        }
        matvec(L.wo, attn, proj);
        for (int i = 0; i < dim_; ++i) x[size_t(i)] += proj[size_t(i)];

        // feed-forward block: norm, silu(gate) * up, down
        xb = rms_norm(x, L.ffn_norm, eps_);
        matvec(L.gate, xb, gate);
        matvec(L.up, xb, up);
        for (size_t i = 0; i < gate.size(); ++i) {
            const double g = gate[i];
            gate[i] = float(g / (1.0 + std::exp(-g)) * up[i]);
        }
        matvec(L.down, gate, proj);
        for (int i = 0; i < dim_; ++i) x[size_t(i)] += proj[size_t(i)];
    }

    // final norm and logits
    std::vector<float> logits;
    matvec(output_, rms_norm(x, output_norm_, eps_), logits);
    return logits;
}

std::vector<std::vector<float>> ReferenceModel::forward(const std::vector<std::int32_t>& tokens) {
    reset();
    std::vector<std::vector<float>> all;
    for (std::int32_t t : tokens) all.push_back(step(t));
    return all;
}

std::vector<std::int32_t> ReferenceModel::greedy(const std::vector<std::int32_t>& prompt, int num_new) {
    reset();
    std::vector<float> logits;
    for (std::int32_t t : prompt) logits = step(t);
    std::vector<std::int32_t> out;
    for (int i = 0; i < num_new; ++i) {
        std::int32_t best = 0;
        for (int j = 1; j < vocab_size_; ++j) {
            if (logits[size_t(j)] > logits[size_t(best)]) best = j;
        }
        out.push_back(best);
        logits = step(best);
    }
    return out;
}

}  // namespace kvscope::test
