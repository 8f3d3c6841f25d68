#include "trainer/scoring.h"

#include <algorithm>

#include "common/error.h"

namespace sims::trainer {

std::vector<Likelihood> ScoreContinuations(
    Decoder& model, const corpus::Vocabulary& vocab,
    const std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>>& members,
    const ScoringOptions& options) {
  torch::NoGradGuard no_grad;
  const torch::Device device = model->parameters().front().device();
  std::vector<Likelihood> result(members.size());
  // Batches of similar lengths (sorted by length) waste little compute on padding.
  std::vector<size_t> order(members.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return members[a].first.size() + members[a].second.size() <
           members[b].first.size() + members[b].second.size();
  });
  for (size_t first = 0; first < members.size(); first += options.batch) {
    const size_t count = std::min<size_t>(options.batch, members.size() - first);
    // Each row: [BOS] + prefix + continuation, right-padded (causal, so padding after a row's
    // end changes nothing before it). scored[r][t] marks targets t that belong to the
    // continuation, i.e. positions t+1 of the row.
    std::vector<std::vector<int64_t>> rows(count);
    std::vector<int64_t> continuation_start(count);
    int64_t longest = 0;
    for (size_t r = 0; r < count; ++r) {
      const auto& [prefix, continuation] = members[order[first + r]];
      if (continuation.empty()) throw UserError("a pair member has an empty continuation");
      std::vector<int64_t>& row = rows[r];
      row.push_back(vocab.bos);
      row.insert(row.end(), prefix.begin(), prefix.end());
      continuation_start[r] = static_cast<int64_t>(row.size());
      row.insert(row.end(), continuation.begin(), continuation.end());
      if (options.max_tokens > 0 && static_cast<int64_t>(row.size()) > options.max_tokens) {
        const int64_t drop = static_cast<int64_t>(row.size()) - options.max_tokens;
        row.erase(row.begin(), row.begin() + drop);
        continuation_start[r] = std::max<int64_t>(1, continuation_start[r] - drop);
      }
      longest = std::max<int64_t>(longest, static_cast<int64_t>(row.size()));
    }
    const int64_t T = longest - 1;
    torch::Tensor tokens = torch::full({static_cast<int64_t>(count), longest}, vocab.pad,
                                       torch::kInt64);
    torch::Tensor mask = torch::zeros({static_cast<int64_t>(count), T}, torch::kFloat);
    for (size_t r = 0; r < count; ++r) {
      auto* dst = tokens[r].data_ptr<int64_t>();
      std::copy(rows[r].begin(), rows[r].end(), dst);
      auto* m = mask[r].data_ptr<float>();
      for (int64_t pos = continuation_start[r]; pos < static_cast<int64_t>(rows[r].size()); ++pos) {
        if (!options.unit_only || vocab.IsUnit(static_cast<int32_t>(rows[r][pos]))) m[pos - 1] = 1;
      }
    }
    tokens = tokens.to(device);
    torch::Tensor inputs = tokens.narrow(1, 0, T), targets = tokens.narrow(1, 1, T);
    torch::Tensor logits = model->forward(inputs).to(torch::kFloat);  // (B, T, V)
    torch::Tensor log_probs;
    if (options.unit_only) {
      // Log-softmax over the unit logits only; non-unit targets are masked, so clamp their
      // index into the unit range just to keep gather in bounds.
      torch::Tensor unit_logits = logits.narrow(-1, vocab.unit_begin, vocab.unit_count);
      torch::Tensor unit_targets = (targets - vocab.unit_begin).clamp(0, vocab.unit_count - 1);
      log_probs = torch::log_softmax(unit_logits, -1).gather(-1, unit_targets.unsqueeze(-1));
    } else {
      log_probs = torch::log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1));
    }
    torch::Tensor scored = log_probs.squeeze(-1).cpu() * mask;  // (B, T)
    torch::Tensor sums = scored.to(torch::kFloat64).sum(1), counts = mask.sum(1);
    for (size_t r = 0; r < count; ++r) {
      result[order[first + r]] = {sums[r].item<double>(),
                                  static_cast<int64_t>(counts[r].item<float>())};
    }
  }
  return result;
}

PairAccuracy ScorePairs(Decoder& model, const corpus::Vocabulary& vocab,
                        const corpus::PairSet& pairs, const ScoringOptions& options) {
  std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>> members;
  members.reserve(2 * pairs.pairs.size());
  for (const corpus::EvalPair& pair : pairs.pairs) {
    members.emplace_back(pair.prefix, pair.positive);
    members.emplace_back(pair.prefix, pair.negative);
  }
  const std::vector<Likelihood> scores = ScoreContinuations(model, vocab, members, options);
  auto score = [&](const Likelihood& l) {
    if (!options.mean) return l.sum;
    // A member with no scored token (unit_only on a text continuation) has no evidence: -inf
    // on both sides makes the pair a tie.
    return l.tokens > 0 ? l.sum / static_cast<double>(l.tokens)
                        : -std::numeric_limits<double>::infinity();
  };
  PairAccuracy result;
  result.n_pairs = static_cast<int64_t>(pairs.pairs.size());
  double right = 0;
  for (size_t i = 0; i < pairs.pairs.size(); ++i) {
    const double positive = score(scores[2 * i]), negative = score(scores[2 * i + 1]);
    right += positive > negative ? 1.0 : (positive == negative ? 0.5 : 0.0);
  }
  result.accuracy = result.n_pairs > 0 ? right / static_cast<double>(result.n_pairs) : 0.0;
  return result;
}

}  // namespace sims::trainer
