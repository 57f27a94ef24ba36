// The self-test's checks, one file per kernel family.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "../common/cuda_api.h"

namespace llmk::selftest {

struct Context {
  bool timings = true;
  std::vector<cuda::DeviceInfo> cuda_devices;
  bool has_cuda() const { return !cuda_devices.empty(); }
};

inline void expect(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}

// Bitwise equality of two float vectors (memcmp must not see null for n = 0).
inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Median wall time of `reps` runs of fn, in seconds.
template <class F>
double time_median(int reps, F&& fn) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void check_vector_add(Context& ctx);  // vector_checks.cc
void check_bleu(Context& ctx);        // bleu_checks.cc
void check_kv(Context& ctx);          // kv_checks.cc
void check_bpe(Context& ctx);         // bpe_checks.cc
void check_pretokenize(Context& ctx); // pretokenize_checks.cc
void check_unicode(Context& ctx);     // unicode_checks.cc

}  // namespace llmk::selftest
