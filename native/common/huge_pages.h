// An allocator for large, randomly accessed tables (hash tables of tens of
// MB): on Linux, allocations of 4 MiB and more are 2 MiB aligned and marked
// for transparent huge pages, so a table costs a fault per 2 MiB instead of
// per 4 KiB, and its lookups miss the TLB far less. Elsewhere, and for small
// allocations, it is std::allocator.
//
//   std::vector<Slot, HugePageAllocator<Slot>> slots(1 << 22);
#pragma once
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace llmk {

template <class T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) {}

  T* allocate(size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const size_t bytes = n * sizeof(T);
    if (n <= SIZE_MAX / sizeof(T) && bytes >= kLarge) {
      void* p = nullptr;
      if (posix_memalign(&p, kHuge, round_up(bytes)) != 0) throw std::bad_alloc();
      madvise(p, round_up(bytes), MADV_HUGEPAGE);  // a hint: without it the pages are plain
      return static_cast<T*>(p);
    }
#endif
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (n * sizeof(T) >= kLarge) {
      std::free(p);
      return;
    }
#endif
    std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const HugePageAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const HugePageAllocator<U>&) const { return false; }

 private:
  static constexpr size_t kHuge = size_t{2} << 20, kLarge = size_t{4} << 20;
  static size_t round_up(size_t bytes) { return (bytes + kHuge - 1) / kHuge * kHuge; }
};

}  // namespace llmk
