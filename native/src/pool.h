// A tiny fork-join thread pool: parallel_for splits an index range into
// contiguous chunks that the calling thread and the workers take in turn.
// Workers spin briefly between jobs (kernels arrive back to back from the
// tfjs engine) and then sleep on a condition variable, so an idle process
// does not burn a core.
//
// The interface is a plain function pointer + context (no std::function) so
// that code compiled for another instruction set (kernels_avx2.cc) does not
// instantiate shared templates: see kernels.h.
#pragma once
#include <cstddef>

namespace lmp {

using RangeFn = void (*)(void* ctx, size_t begin, size_t end);

// Runs fn(ctx, b, e) over [0, n) in at most `max_chunks` (0: a few per
// thread) contiguous chunks of at least `grain` indices, taken by whichever
// thread is free. Nested calls run serially.
void parallel_for(size_t n, size_t grain, RangeFn fn, void* ctx, size_t max_chunks = 0);

// Threads taking part in parallel_for (workers + the caller).
int num_threads();

// Resizes the pool (n >= 1; 1 means everything runs on the calling thread).
void set_num_threads(int n);

// Index of the current thread inside a parallel_for (0 for the caller).
int thread_index();

}  // namespace lmp
