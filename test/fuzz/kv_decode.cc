// libFuzzer target: kv::parse and kv::decode of any bytes (scripts/fuzz.sh).
// Built with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, the container skips its
// checksums, so mutations reach the tile parsers (an attacker can forge
// checksums). Every input must decode or throw llmk::Error; AddressSanitizer
// and UBSan report anything else.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "native/common/error.h"
#include "native/kv/container.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llmk::kv;
  try {
    const Parsed parsed = parse(data, size);
    const Layout& l = parsed.layout;
    // A tiny stream may rightly stand for a large tensor (a constant one codes to
    // a few bytes a tile): decode at most 4 Mi elements, the first tokens if need be.
    const uint64_t per_token = uint64_t(l.layers) * l.heads * l.head_dim;
    const uint64_t cap = (uint64_t(1) << 22) / (per_token ? per_token : 1);
    const uint32_t tokens = static_cast<uint32_t>(l.tokens < cap ? l.tokens : cap);
    std::vector<uint8_t> out(per_token * tokens * dtype_size(l.codec.dtype));
    decode(parsed, data, tokens, out.data(), 1, nullptr);
  } catch (const llmk::Error&) {
  }
  return 0;
}
