// libFuzzer target: bpe::Encoding::load of any bytes (scripts/fuzz.sh), and,
// when it loads, an encode, a count and a decode of a text that exercises the
// pre-tokenizer's classes. Every input must load or throw llmk::Error;
// AddressSanitizer and UBSan report anything else.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "native/bpe/encoding.h"
#include "native/common/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llmk::bpe;
  static const std::string text =
      "Hello, world! It's 2026: naïve café — 中文 😀 \r\n  trailing   spaces\t\u0085x 12345 'S'll \xF0\x9F";
  try {
    const Encoding e = Encoding::load(data, size);
    const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
    std::vector<Rank> ids;
    e.encode_bytes(bytes, text.size(), ids);
    e.count_bytes(bytes, text.size());
    std::string decoded;
    e.decode(ids.data(), ids.size(), decoded);
  } catch (const llmk::Error&) {
  }
  return 0;
}
