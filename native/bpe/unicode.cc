#include "unicode.h"

#include <algorithm>
#include <array>
#include <iterator>

#include "unicode_tables.h"

namespace llmk::bpe {

namespace {

template <size_t N>
bool in(const unicode::Range (&ranges)[N], uint32_t cp) {
  auto it = std::upper_bound(std::begin(ranges), std::end(ranges), cp,
                             [](uint32_t v, const unicode::Range& r) { return v < r.lo; });
  return it != std::begin(ranges) && cp <= std::prev(it)->hi;
}

uint8_t classify(uint32_t cp) {
  return (in(unicode::kLetter, cp) ? kIsLetter : 0) | (in(unicode::kNumber, cp) ? kIsNumber : 0) |
         (in(unicode::kUpperish, cp) ? kIsUpperish : 0) | (in(unicode::kLowerish, cp) ? kIsLowerish : 0) |
         (in(unicode::kWhiteSpace, cp) ? kIsSpace : 0);
}

std::array<uint8_t, 0x10000> build_bmp() {
  std::array<uint8_t, 0x10000> t{};
  for (uint32_t cp = 0; cp < 0x10000; ++cp) t[cp] = classify(cp);
  return t;
}

const std::array<uint8_t, 0x10000> kBmpTable = build_bmp();

}  // namespace

const uint8_t* const kBmpClasses = kBmpTable.data();

uint8_t astral_class(uint32_t cp) { return cp == kInvalid ? 0 : classify(cp); }

}  // namespace llmk::bpe
