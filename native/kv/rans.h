// The entropy coder of the KV codec: byte streams stored as the cheapest of
// raw bytes, one repeated byte, or order-0 rANS with 12-bit probabilities:
// four interleaved 32-bit states with byte renormalisation (ryg_rans's
// scheme) for streams under 16384 symbols, 32 lanes with 16-bit words
// (rans_lanes.h, decoded with SIMD) from 16384 on.
//
// Stream layout (its length n is known to the reader):
//   u8 method: 0 raw | 1 constant | 2 rANS | 3 rANS, 32 lanes
//   raw: n bytes.  constant: 1 byte.
//   rANS: u8 (symbols - 1); the symbols, ascending, as a list (<= 32 of them)
//         or a 256-bit map; one varint frequency per symbol (they sum to
//         4096); varint payload length; payload = 4 states (u32) + bytes,
//         or for method 3 32 states (u32) + 16-bit words.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "bytes.h"

namespace llmk::kv {

constexpr int kProbBits = 12;
constexpr uint32_t kProbScale = 1u << kProbBits;

void put_stream(ByteWriter& w, const uint8_t* symbols, size_t n);
// The same with the symbols' histogram (count_symbols) already at hand.
void put_stream(ByteWriter& w, const uint8_t* symbols, size_t n, const uint32_t hist[256]);
void get_stream(ByteReader& r, uint8_t* out, size_t n);

// A byte string of any length: varint length, then a stream.
void put_blob(ByteWriter& w, const uint8_t* p, size_t n);
// The same stored raw, never coded (lossy `entropy: false`: no time for it).
void put_raw_blob(ByteWriter& w, const uint8_t* p, size_t n);
std::vector<uint8_t> get_blob(ByteReader& r, size_t max_len);

// The histogram of n symbols.
void count_symbols(const uint8_t* p, size_t n, uint32_t hist[256]);
// The histogram of `runs` runs of `run` symbols, each run `step` symbols
// after the one before (rows of a tile between sampled rows).
void count_symbol_runs(const uint8_t* p, size_t run, size_t step, size_t runs, uint32_t hist[256]);

// Order-0 entropy of a histogram over n symbols, in bits (the cost model used
// to choose predictors; the coder lands within a few percent of it).
double entropy_bits(const uint32_t hist[256], size_t n);

}  // namespace llmk::kv
