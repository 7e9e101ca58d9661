// `par(n, grain, f)`: parallel_for (pool.h) over [0, n) with a lambda
// f(begin, end) instead of a function pointer and context. A template, so it
// is for the baseline-compiled files only (gemm, gemm_bf16, layout); code
// compiled for another instruction set calls parallel_for itself (see
// pool.h and kernels.h on why shared templates stay out of those files).
#pragma once
#include <cstddef>
#include <cstdint>

#include "pool.h"

namespace lmp {

template <class F>
void par_trampoline(void* ctx, size_t b, size_t e) {
  (*static_cast<const F*>(ctx))(static_cast<int64_t>(b), static_cast<int64_t>(e));
}

// Runs f(begin, end) over [0, n) in chunks of at least `grain` (>= 1) indices,
// at most `max_chunks` of them (0: a few per thread).
template <class F>
void par(int64_t n, int64_t grain, const F& f, size_t max_chunks = 0) {
  if (n <= 0) return;
  parallel_for(static_cast<size_t>(n), static_cast<size_t>(grain < 1 ? 1 : grain), &par_trampoline<F>,
               const_cast<void*>(static_cast<const void*>(&f)), max_chunks);
}

}  // namespace lmp
