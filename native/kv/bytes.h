// Byte-level building blocks of the KV container: a growing writer, a reader
// that bounds-checks every read (a corrupt or truncated stream becomes an
// llmk::Error, never an out-of-bounds read), LEB128 varints, zigzag, CRC-32C.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../common/error.h"

namespace llmk::kv {

// Every decoding failure: the message says what was wrong and where.
[[noreturn]] inline void corrupt(const std::string& what) {
  throw Error(ErrorKind::Generic, "ERR_LLMK_KV_CORRUPT", "corrupt KV stream: " + what);
}

class ByteWriter {
 public:
  void u8(uint8_t v) { buf_.push_back(v); }
  void u16(uint16_t v) { le(v, 2); }
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void f64(double v) {
    uint64_t b;
    std::memcpy(&b, &v, 8);
    u64(b);
  }
  void varint(uint64_t v) {
    while (v >= 0x80) {
      buf_.push_back(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    buf_.push_back(static_cast<uint8_t>(v));
  }
  void bytes(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  // Overwrites 4 bytes at `at` (a length written after its payload).
  void patch_u32(size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) buf_[at + i] = static_cast<uint8_t>(v >> (8 * i));
  }
  size_t size() const { return buf_.size(); }
  std::vector<uint8_t>& buffer() { return buf_; }

 private:
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) buf_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> buf_;
};

class ByteReader {
 public:
  ByteReader(const uint8_t* p, size_t n, const char* what) : p_(p), end_(p + n), what_(what) {}
  uint8_t u8() { return static_cast<uint8_t>(le(1)); }
  uint16_t u16() { return static_cast<uint16_t>(le(2)); }
  uint32_t u32() { return static_cast<uint32_t>(le(4)); }
  uint64_t u64() { return le(8); }
  double f64() {
    uint64_t b = u64();
    double v;
    std::memcpy(&v, &b, 8);
    return v;
  }
  // At most 9 bytes (63 bits): longer or unterminated varints are corrupt.
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 63; shift += 7) {
      uint8_t b = u8();
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    corrupt(std::string(what_) + ": varint too long");
  }
  const uint8_t* take(size_t n) {
    need(n);
    const uint8_t* p = p_;
    p_ += n;
    return p;
  }
  size_t left() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* pos() const { return p_; }
  const char* what() const { return what_; }
  void need(size_t n) const {
    if (n > left()) corrupt(std::string(what_) + ": truncated");
  }

 private:
  uint64_t le(int n) {
    need(static_cast<size_t>(n));
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(p_[i]) << (8 * i);
    p_ += n;
    return v;
  }
  const uint8_t* p_;
  const uint8_t* end_;
  const char* what_;
};

inline uint64_t zigzag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline uint32_t zigzag32(int32_t v) { return (static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31); }
inline int64_t unzigzag(uint64_t z) { return static_cast<int64_t>(z >> 1) ^ -static_cast<int64_t>(z & 1); }

// CRC-32C (Castagnoli), the checksum of iSCSI/ext4: the SSE4.2 instruction
// where the CPU path is AVX2, else table-driven, 8 bytes a step (same values).
uint32_t crc32c(const uint8_t* p, size_t n, uint32_t crc = 0);
uint32_t crc32c_table(const uint8_t* p, size_t n, uint32_t crc = 0);
uint32_t crc32c_sse42(const uint8_t* p, size_t n, uint32_t crc);  // crc32c_sse42.cc

}  // namespace llmk::kv
