// libFuzzer target: the encoders on any bytes (scripts/fuzz.sh). The first
// byte picks the encoding — r50k, cl100k, o200k, then the tokenizer.json
// models that test/fuzz/seeds.mjs converted (LLMK_FUZZ_MODELS: byte-level
// GPT-2, Llama-3 and tiny-llama-brown, SentencePiece-style Llama-2) —, the
// rest is the text. Checks what must hold for every input, and aborts (a
// crash for libFuzzer) where it does not:
//   - count_bytes equals the number of ids, and a count with a lower limit
//     stops past that limit;
//   - valid UTF-8 encodes the same as text (encode_ordinary) and as bytes;
//   - but for SentencePiece-style models (whose decoders rewrite the text),
//     the ids decode to the bytes (tiktoken's rule for bytes loses nothing).
// A model may reject a byte its vocabulary lacks with llmk::Error.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "native/bpe/encoding.h"
#include "native/bpe/unicode.h"
#include "native/common/error.h"

namespace {
using llmk::bpe::Encoding;
using llmk::bpe::Rank;

struct Loaded {
  std::string name;
  Encoding encoding;
  bool builtin;      // encodes every byte
  bool round_trips;  // decodes to the bytes it encoded
};

Encoding load_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  const std::string data = s.str();
  if (data.empty()) std::fprintf(stderr, "cannot read %s (LLMK_ENCODINGS, LLMK_FUZZ_MODELS)\n", path.c_str()), std::abort();
  return Encoding::load(reinterpret_cast<const uint8_t*>(data.data()), data.size());
}

const std::vector<Loaded>& encodings() {
  static const std::vector<Loaded>* all = [] {
    auto* v = new std::vector<Loaded>;
    const char* dir = std::getenv("LLMK_ENCODINGS");
    for (const char* name : {"r50k_base", "cl100k_base", "o200k_base"})
      v->push_back({name, load_file(std::string(dir ? dir : "encodings") + "/" + name + ".bin"), true, true});
    std::vector<std::string> models;
    if (const char* mdir = std::getenv("LLMK_FUZZ_MODELS"))
      if (DIR* d = opendir(mdir)) {
        while (const dirent* entry = readdir(d))
          if (std::strstr(entry->d_name, ".bin")) models.push_back(std::string(mdir) + "/" + entry->d_name);
        closedir(d);
      }
    std::sort(models.begin(), models.end());
    for (const std::string& m : models) v->push_back({m, load_file(m), false, m.find("sentencepiece-") == std::string::npos});
    return v;
  }();
  return *all;
}

void require(bool ok, const char* what, const std::string& encoding) {
  if (!ok) std::fprintf(stderr, "property failed (%s): %s\n", encoding.c_str(), what), std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Loaded& l = encodings()[data[0] % encodings().size()];
  const Encoding& e = l.encoding;
  const uint8_t* text = data + 1;
  const size_t n = size - 1;
  std::vector<Rank> ids;
  try {
    e.encode_bytes(text, n, ids);
  } catch (const llmk::Error&) {
    require(!l.builtin, "a built-in encoding encodes every byte", l.name);
    return 0;
  }
  std::string decoded;
  e.decode(ids.data(), ids.size(), decoded);
  if (l.round_trips) require(decoded.size() == n && std::memcmp(decoded.data(), text, n) == 0, "decode(encode_bytes(x)) == x", l.name);
  require(e.count_bytes(text, n) == ids.size(), "count_bytes == ids", l.name);
  if (!ids.empty()) require(e.count_bytes(text, n, ids.size() / 2) > ids.size() / 2, "a count stops past its limit", l.name);
  if (llmk::bpe::utf8_valid_prefix(text, n) == n) {
    std::vector<Rank> as_text;
    e.encode_ordinary(text, n, as_text);
    require(as_text == ids, "valid UTF-8: encode_ordinary == encode_bytes", l.name);
  }
  return 0;
}
