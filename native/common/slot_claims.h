// Items [0, n) shared out among `slots` workers so that, whenever timing
// allows, item i goes to slot i % slots: a slot that keeps state between
// calls (a tokenizer's caches) then meets the same items from one batch of
// the same texts to the next, where first come, first served hands each item
// to a slot at random. A slot done with its own items takes what is left of
// the others', from the back (the items their owners would reach last).
//
//   SlotClaims claims(n, slots);
//   // in slot s, on its own thread:
//   for (size_t step = 0, i; claims.next(s, step, i);) work(i);
//
// Every item is handed out exactly once; nothing blocks or spins.
#pragma once
#include <atomic>
#include <cstddef>
#include <memory>

namespace llmk {

class SlotClaims {
 public:
  SlotClaims(size_t n, size_t slots) : n_(n), slots_(slots == 0 ? 1 : slots), taken_(new std::atomic<bool>[n]) {
    for (size_t i = 0; i < n; ++i) taken_[i].store(false, std::memory_order_relaxed);
  }

  // The next item for `slot` (< slots) into i; false when none is left.
  // `step` is the slot's own cursor: 0 at first, then left to this call.
  bool next(size_t slot, size_t& step, size_t& i) {
    const size_t own = slot < n_ ? (n_ - slot + slots_ - 1) / slots_ : 0;
    for (; step < own + n_; ++step) {
      i = step < own ? slot + step * slots_ : n_ - 1 - (step - own);
      if (!taken_[i].exchange(true, std::memory_order_acq_rel)) {
        ++step;
        return true;
      }
    }
    return false;
  }

 private:
  size_t n_, slots_;
  std::unique_ptr<std::atomic<bool>[]> taken_;
};

}  // namespace llmk
