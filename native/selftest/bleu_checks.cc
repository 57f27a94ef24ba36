#include <random>
#include <thread>

#include "../bleu/bleu.h"
#include "../common/thread_pool.h"
#include "checks.h"

namespace llmk::selftest {

namespace {

// A packed batch whose references are noisy copies of the candidates. The
// timing batches follow the TensorBLEU benchmark in bench/bleu-data.ts: per
// sentence 5-60 % substitutions, 2 % deletions, 2 % insertions.
struct OwnedBatch {
  std::vector<uint32_t> cand, cand_off{0}, ref, ref_off{0}, groups{0};
  bleu::Batch view() const {
    bleu::Batch b;
    b.cand_tokens = cand.data(), b.cand_tokens_len = cand.size();
    b.cand_offsets = cand_off.data(), b.n_cand = cand_off.size() - 1;
    b.ref_tokens = ref.data(), b.ref_tokens_len = ref.size();
    b.ref_offsets = ref_off.data(), b.n_refs = ref_off.size() - 1;
    b.ref_groups = groups.data();
    return b;
  }
};

OwnedBatch random_batch(std::mt19937& rng, size_t n, size_t max_len, uint32_t vocab, size_t max_refs,
                        bool tensorbleu = false) {
  OwnedBatch b;
  auto tok = [&] { return static_cast<uint32_t>(rng() % vocab) * (tensorbleu ? 1u : 2654435761u); };  // checks: spread over 32 bits
  for (size_t i = 0; i < n; ++i) {
    size_t len = tensorbleu ? max_len : rng() % (max_len + 1);
    const unsigned sub = tensorbleu ? 50 + rng() % 551 : 300, del = tensorbleu ? 20 : 50, ins = del;
    size_t start = b.cand.size();
    for (size_t k = 0; k < len; ++k) b.cand.push_back(tok());
    b.cand_off.push_back(static_cast<uint32_t>(b.cand.size()));
    size_t refs = 1 + rng() % max_refs;
    for (size_t r = 0; r < refs; ++r) {
      for (size_t k = 0; k < len; ++k) {
        unsigned x = rng() % 1000;
        if (x < sub) b.ref.push_back(tok());
        else if (x < sub + del) continue;
        else if (x < sub + del + ins) b.ref.push_back(b.cand[start + k]), b.ref.push_back(tok());
        else b.ref.push_back(b.cand[start + k]);
      }
      b.ref_off.push_back(static_cast<uint32_t>(b.ref.size()));
    }
    b.groups.push_back(static_cast<uint32_t>(b.ref_off.size() - 1));
  }
  return b;
}

}  // namespace

void check_bleu(Context& ctx) {
  std::mt19937 rng(777);
  for (int round = 0; round < 20; ++round) {
    const uint32_t vocab = round % 2 ? 50000 : 7;
    const int order = 1 + round % 5;
    OwnedBatch ob = random_batch(rng, 1 + rng() % 40, 1 + rng() % 200, vocab, 1 + round % 4);
    bleu::Batch b = ob.view();
    bleu::validate(b, order);
    const size_t width = bleu::stats_width(order);
    std::vector<uint32_t> ref(b.n_cand * width), got(b.n_cand * width);
    bleu::compute_stats_reference(b, order, ref.data());
    for (size_t threads : {size_t(1), size_t(3)}) {
      bleu::compute_stats(b, order, got.data(), threads);
      expect(got == ref, "CPU bleu stats differ from the reference");
    }
    if (ctx.has_cuda()) {
      std::fill(got.begin(), got.end(), 0u);
      cuda::bleu_stats(b, order, got.data());
      expect(got == ref, "CUDA bleu stats differ from the CPU");
    }
  }
  // The dictionaries mark their slots with a 16-bit generation, one per
  // order of a sentence, and clear them when it wraps. On a fresh thread
  // (fresh buffers): sentence 0 leaves token x in a slot at generation 1;
  // 65,534 one-token sentences (one generation each) never touch x; then
  // the generation wraps and sentence 65,535 looks x up again in its
  // reference. Were stale slots not cleared, x would be found and match.
  for (uint32_t x : {1u, 2u, 3u}) {
    OwnedBatch ob;
    auto add = [&](uint32_t cand, uint32_t ref) {
      ob.cand.push_back(cand), ob.cand_off.push_back(static_cast<uint32_t>(ob.cand.size()));
      ob.ref.push_back(ref), ob.ref_off.push_back(static_cast<uint32_t>(ob.ref.size()));
      ob.groups.push_back(static_cast<uint32_t>(ob.ref_off.size() - 1));
    };
    add(x, x);
    for (int k = 0; k < 65534; ++k) add(1000, 1000);
    add(7, x);
    bleu::Batch b = ob.view();
    std::vector<uint32_t> got(b.n_cand * bleu::stats_width(1)), want(got.size());
    bleu::compute_stats_reference(b, 1, want.data());
    std::thread([&] { bleu::compute_stats(b, 1, got.data(), 1); }).join();
    expect(got == want, "CPU bleu stats differ from the reference across a generation wrap");
  }
  if (!ctx.timings) return;
  // TensorBLEU's setup: vocab 50k, 256 sentences of 1024 tokens, one reference.
  for (size_t len : {size_t(256), size_t(1024)}) {
    std::mt19937 r2(42);
    OwnedBatch ob = random_batch(r2, 256, len, 50000, 1, true);
    bleu::Batch b = ob.view();
    std::vector<uint32_t> out(b.n_cand * bleu::stats_width(4)), check_out(out.size());
    for (size_t threads : {size_t(1), hardware_threads()}) {
      double t = time_median(9, [&] { bleu::compute_stats(b, 4, out.data(), threads); });
      std::printf("  bleu stats 256x%zu cpu %zu thread(s): %.3f ms\n", len, threads, t * 1e3);
    }
    if (ctx.has_cuda()) {
      cuda::bleu_stats(b, 4, check_out.data());  // warm-up and validation before timing
      expect(check_out == out, "CUDA bleu stats differ from the CPU (timing batch)");
      double t = time_median(21, [&] { cuda::bleu_stats(b, 4, check_out.data()); });
      std::printf("  bleu stats 256x%zu cuda incl. transfers: %.3f ms\n", len, t * 1e3);
    }
  }
}

}  // namespace llmk::selftest
