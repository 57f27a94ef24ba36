// Native self-test and micro-benchmark, no Node needed: every kernel against
// its reference on fresh random inputs, every CUDA kernel against its CPU twin
// (validated before it is timed, as in llm.c), then timings.
//
//   llmk_selftest            run all checks, then the timings
//   llmk_selftest --quick    checks only (what CI and test:native run)
//   llmk_selftest bleu       only the checks whose name contains "bleu"
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "../common/cpu.h"
#include "../common/cuda_api.h"
#include "checks.h"

namespace {

struct Check {
  const char* name;
  std::function<void(llmk::selftest::Context&)> run;
};

}  // namespace

int main(int argc, char** argv) {
  llmk::selftest::Context ctx;
  std::string filter;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0)
      ctx.timings = false;
    else
      filter = argv[i];
  }
  std::string why;
  ctx.cuda_devices = llmk::cuda::devices(&why);
  std::printf("cpu path: %s\n", llmk::cpu_path_name(llmk::cpu_path()));
  if (ctx.cuda_devices.empty())
    std::printf("cuda: none (%s)\n", why.c_str());
  else
    for (auto& d : ctx.cuda_devices)
      std::printf("cuda: %s (sm_%d%d, %.1f GiB)\n", d.name.c_str(), d.major, d.minor, d.memory_bytes / 1073741824.0);

  const std::vector<Check> checks = {
      {"vector_add", llmk::selftest::check_vector_add},
      {"bleu", llmk::selftest::check_bleu},
      {"kv", llmk::selftest::check_kv},
      {"bpe", llmk::selftest::check_bpe},
      {"pretokenize", llmk::selftest::check_pretokenize},
      {"unicode", llmk::selftest::check_unicode},
  };
  int failed = 0, passed = 0;
  for (const auto& c : checks) {
    if (!filter.empty() && std::string(c.name).find(filter) == std::string::npos) continue;
    try {
      c.run(ctx);
      std::printf("ok   %s\n", c.name);
      ++passed;
    } catch (const std::exception& e) {
      std::printf("FAIL %s: %s\n", c.name, e.what());
      ++failed;
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
