// libFuzzer target: the built-in encodings' pre-tokenizers and merges on any
// bytes (scripts/fuzz.sh). The first byte picks the encoding (r50k, cl100k,
// o200k), the rest is the text. Checks what must hold for every input, and
// aborts (a crash for libFuzzer) where it does not:
//   - the ids decode to the bytes (tiktoken's rule for bytes loses nothing);
//   - count_bytes equals the number of ids, and a count with a lower limit
//     stops past that limit;
//   - valid UTF-8 encodes the same as text (encode_ordinary) and as bytes.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "native/bpe/encoding.h"
#include "native/bpe/unicode.h"

namespace {
using llmk::bpe::Encoding;
using llmk::bpe::Rank;

const Encoding& encoding(int which) {
  static const Encoding* loaded[3] = {};
  static const char* names[3] = {"r50k_base", "cl100k_base", "o200k_base"};
  if (!loaded[which]) {
    const char* dir = std::getenv("LLMK_ENCODINGS");  // scripts/fuzz.sh sets it
    std::ifstream f(std::string(dir ? dir : "encodings") + "/" + names[which] + ".bin", std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    const std::string data = s.str();
    if (data.empty()) std::fprintf(stderr, "cannot read %s.bin (LLMK_ENCODINGS)\n", names[which]), std::abort();
    loaded[which] = new Encoding(Encoding::load(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  }
  return *loaded[which];
}

void require(bool ok, const char* what) {
  if (!ok) std::fprintf(stderr, "property failed: %s\n", what), std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Encoding& e = encoding(data[0] % 3);
  const uint8_t* text = data + 1;
  const size_t n = size - 1;
  std::vector<Rank> ids;
  e.encode_bytes(text, n, ids);
  std::string decoded;
  e.decode(ids.data(), ids.size(), decoded);
  require(decoded.size() == n && std::memcmp(decoded.data(), text, n) == 0, "decode(encode_bytes(x)) == x");
  require(e.count_bytes(text, n) == ids.size(), "count_bytes == ids");
  if (!ids.empty()) require(e.count_bytes(text, n, ids.size() / 2) > ids.size() / 2, "a count stops past its limit");
  if (llmk::bpe::utf8_valid_prefix(text, n) == n) {
    std::vector<Rank> as_text;
    e.encode_ordinary(text, n, as_text);
    require(as_text == ids, "valid UTF-8: encode_ordinary == encode_bytes");
  }
  return 0;
}
