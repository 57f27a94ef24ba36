// CUDA twin of native/bleu/bleu.cc: one block per sentence, the same
// dictionary-of-present-n-grams method. A sentence's dictionary lives in a
// global-memory workspace sized on the host (2x the candidate length, a power
// of two). Dense ids are the hash slots themselves, so insertion needs only
// atomicCAS on the key; clipping uses atomicSub on the per-n-gram reference
// maximum. The ids differ from the CPU's, the counts are identical.
#include <vector>

#include "../native/common/cuda_api.h"
#include "common.cuh"

namespace llmk::cuda {

namespace {

constexpr unsigned long long kEmpty = ~0ull;
constexpr uint32_t kNone = 0xFFFFFFFFu;
constexpr int kBlock = 256;

struct SentenceWork {
  unsigned long long table_offset;  // into keys / count / max_ref
  unsigned long long cand_id_offset;
  unsigned bits;
};

__device__ __forceinline__ unsigned long long ngram_key(int n, uint32_t prefix, uint32_t last) {
  return n == 1 ? static_cast<unsigned long long>(last) : (static_cast<unsigned long long>(prefix) << 32) | last;
}

__device__ __forceinline__ uint32_t hash_slot(unsigned long long key, unsigned bits) {
  return static_cast<uint32_t>((key * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

__device__ uint32_t table_insert(unsigned long long* keys, unsigned bits, unsigned long long key) {
  const uint32_t mask = (1u << bits) - 1;
  for (uint32_t s = hash_slot(key, bits);; s = (s + 1) & mask) {
    unsigned long long prev = atomicCAS(&keys[s], kEmpty, key);
    if (prev == kEmpty || prev == key) return s;
  }
}

__device__ uint32_t table_find(const unsigned long long* keys, unsigned bits, unsigned long long key) {
  const uint32_t mask = (1u << bits) - 1;
  for (uint32_t s = hash_slot(key, bits);; s = (s + 1) & mask) {
    unsigned long long k = keys[s];
    if (k == key) return s;
    if (k == kEmpty) return kNone;
  }
}

__global__ void bleu_stats_kernel(const uint32_t* cand_tokens, const uint32_t* cand_offsets, const uint32_t* ref_tokens,
                                  const uint32_t* ref_offsets, const uint32_t* ref_groups, const SentenceWork* work,
                                  unsigned long long* keys_all, int* count_all, int* max_ref_all,
                                  uint32_t* cand_id_all, uint32_t* ref_id_all, int max_order, uint32_t* out) {
  const int i = blockIdx.x;
  const uint32_t* cand = cand_tokens + cand_offsets[i];
  const uint32_t cand_len = cand_offsets[i + 1] - cand_offsets[i];
  const uint32_t r0 = ref_groups[i], r1 = ref_groups[i + 1];
  const uint32_t ref_begin = ref_offsets[r0];
  const SentenceWork w = work[i];
  unsigned long long* keys = keys_all + w.table_offset;
  int* count = count_all + w.table_offset;
  int* max_ref = max_ref_all + w.table_offset;
  uint32_t* cand_id = cand_id_all + w.cand_id_offset;
  uint32_t* ref_id = ref_id_all + ref_begin;
  const uint32_t table_size = 1u << w.bits;
  uint32_t* row = out + static_cast<size_t>(i) * (2 + 2 * max_order);
  __shared__ int block_matches;

  if (threadIdx.x == 0) {
    uint32_t best = 0;
    for (uint32_t r = r0; r < r1; ++r) {
      uint32_t len = ref_offsets[r + 1] - ref_offsets[r];
      uint32_t diff = len > cand_len ? len - cand_len : cand_len - len;
      uint32_t best_diff = best > cand_len ? best - cand_len : cand_len - best;
      if (r == r0 || diff < best_diff || (diff == best_diff && len < best)) best = len;
    }
    row[0] = cand_len;
    row[1] = best;
  }
  bool matching = cand_len > 0;
  for (int n = 1; n <= max_order; ++n) {
    const uint32_t cand_ngrams = cand_len >= uint32_t(n) ? cand_len - n + 1 : 0;
    if (threadIdx.x == 0) {
      row[2 + max_order + n - 1] = cand_ngrams;
      row[2 + n - 1] = 0;
      block_matches = 0;
    }
    if (!matching || cand_ngrams == 0) {
      matching = false;
      continue;  // uniform across the block
    }
    for (uint32_t s = threadIdx.x; s < table_size; s += blockDim.x) keys[s] = kEmpty, count[s] = 0, max_ref[s] = 0;
    __syncthreads();
    for (uint32_t p = threadIdx.x; p < cand_ngrams; p += blockDim.x)
      cand_id[p] = table_insert(keys, w.bits, ngram_key(n, cand_id[p], cand[p + n - 1]));
    __syncthreads();
    for (uint32_t r = r0; r < r1; ++r) {
      const uint32_t off = ref_offsets[r] - ref_begin;
      const uint32_t len = ref_offsets[r + 1] - ref_offsets[r];
      const uint32_t* toks = ref_tokens + ref_offsets[r];
      uint32_t* ids = ref_id + off;
      const uint32_t ngrams = len >= uint32_t(n) ? len - n + 1 : 0;
      for (uint32_t p = threadIdx.x; p < ngrams; p += blockDim.x) {
        uint32_t id = (n > 1 && ids[p] == kNone) ? kNone : table_find(keys, w.bits, ngram_key(n, ids[p], toks[p + n - 1]));
        ids[p] = id;
        if (id != kNone) atomicAdd(&count[id], 1);
      }
      __syncthreads();
      for (uint32_t p = threadIdx.x; p < ngrams; p += blockDim.x)
        if (ids[p] != kNone) atomicMax(&max_ref[ids[p]], count[ids[p]]);
      __syncthreads();
      for (uint32_t p = threadIdx.x; p < ngrams; p += blockDim.x)
        if (ids[p] != kNone) count[ids[p]] = 0;
      __syncthreads();
    }
    int local = 0;
    for (uint32_t p = threadIdx.x; p < cand_ngrams; p += blockDim.x)
      if (atomicSub(&max_ref[cand_id[p]], 1) > 0) ++local;
    for (int o = 16; o > 0; o >>= 1) local += __shfl_down_sync(0xFFFFFFFFu, local, o);
    if ((threadIdx.x & 31) == 0 && local) atomicAdd(&block_matches, local);
    __syncthreads();
    const int m = block_matches;
    if (threadIdx.x == 0) row[2 + n - 1] = static_cast<uint32_t>(m);
    matching = m > 0;
    __syncthreads();
  }
}

template <class T>
void upload(DeviceBuffer& dst, const T* src, size_t count) {
  if (count) check(cudaMemcpy(dst.ptr, src, count * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy to device");
}

}  // namespace

void bleu_stats(const bleu::Batch& b, int max_order, uint32_t* out) {
  require_device();
  if (b.n_cand == 0) return;
  std::vector<SentenceWork> work(b.n_cand);
  unsigned long long table_total = 0, cand_total = 0;
  for (size_t i = 0; i < b.n_cand; ++i) {
    size_t len = b.cand_offsets[i + 1] - b.cand_offsets[i];
    unsigned bits = 4;
    while ((size_t(1) << bits) < 2 * len) ++bits;
    work[i] = {table_total, cand_total, bits};
    table_total += 1ull << bits;
    cand_total += len;
  }
  DeviceBuffer d_cand(b.cand_tokens_len * 4), d_cand_off((b.n_cand + 1) * 4), d_ref(b.ref_tokens_len * 4),
      d_ref_off((b.n_refs + 1) * 4), d_groups((b.n_cand + 1) * 4), d_work(b.n_cand * sizeof(SentenceWork)),
      d_keys(table_total * 8), d_count(table_total * 4), d_max(table_total * 4), d_cand_id(cand_total * 4),
      d_ref_id(b.ref_tokens_len * 4), d_out(b.n_cand * bleu::stats_width(max_order) * 4);
  upload(d_cand, b.cand_tokens, b.cand_tokens_len);
  upload(d_cand_off, b.cand_offsets, b.n_cand + 1);
  upload(d_ref, b.ref_tokens, b.ref_tokens_len);
  upload(d_ref_off, b.ref_offsets, b.n_refs + 1);
  upload(d_groups, b.ref_groups, b.n_cand + 1);
  upload(d_work, work.data(), work.size());
  bleu_stats_kernel<<<static_cast<unsigned>(b.n_cand), kBlock>>>(
      d_cand.as<uint32_t>(), d_cand_off.as<uint32_t>(), d_ref.as<uint32_t>(), d_ref_off.as<uint32_t>(),
      d_groups.as<uint32_t>(), d_work.as<SentenceWork>(), d_keys.as<unsigned long long>(), d_count.as<int>(),
      d_max.as<int>(), d_cand_id.as<uint32_t>(), d_ref_id.as<uint32_t>(), max_order, d_out.as<uint32_t>());
  check(cudaGetLastError(), "bleu_stats_kernel launch");
  check(cudaMemcpy(out, d_out.ptr, b.n_cand * bleu::stats_width(max_order) * 4, cudaMemcpyDeviceToHost),
        "cudaMemcpy stats");
}

}  // namespace llmk::cuda
