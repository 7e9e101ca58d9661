// Float32 matrix products on OpenBLAS, threaded by the lmp pool.
#pragma once
#include <cstdint>

namespace lmp {

// Configures OpenBLAS for use under the pool: one OpenBLAS thread, the pool
// splits the work.
void gemm_init();

// c[i] = op(a[aoff[i]]) · op(b[boff[i]]) for i < batch, where op transposes
// when ta/tb; each product is (m×k)·(k×n) → m×n, row-major, c dense.
void matmul(const float* a, const float* b, float* c, int64_t batch, const int64_t* aoff, const int64_t* boff,
            int64_t m, int64_t n, int64_t k, bool ta, bool tb);

}  // namespace lmp
