#include "gemm.h"

#include <cblas.h>

#include <cstring>

#include "par.h"
#include "pool.h"

extern "C" {
void openblas_set_num_threads(int num_threads);
}

namespace lmp {
namespace {

void gemm1(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
           int64_t ldb, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), 0.0f, c, static_cast<int>(ldc));
}

// One product split over the pool along its larger output dimension, in
// blocks that are multiples of 32 rows/columns.
void gemm_split(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c) {
  const int64_t lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
  const int threads = num_threads();
  const double flops = 2.0 * m * n * k;
  if (threads <= 1 || flops < 4.0e6) {
    gemm1(ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
    return;
  }
  const bool along_m = m >= n;
  const int64_t dim = along_m ? m : n;
  // Two blocks per thread (multiples of 64) when the product is big enough,
  // so a descheduled thread does not stall half of the product.
  const int64_t want = flops > 1.0e8 ? 2 * threads : threads;
  int64_t block = (dim + want - 1) / want;
  block = (block + 63) / 64 * 64;
  const int64_t parts = (dim + block - 1) / block;
  par(parts, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) {
      const int64_t s = p * block;
      const int64_t len = s + block < dim ? block : dim - s;
      if (along_m) {
        gemm1(ta, tb, len, n, k, ta ? a + s : a + s * lda, lda, b, ldb, c + s * ldc, ldc);
      } else {
        gemm1(ta, tb, m, len, k, a, lda, tb ? b + s * ldb : b + s, ldb, c + s, ldc);
      }
    }
  }, static_cast<size_t>(parts));
}

}  // namespace

void gemm_init() { openblas_set_num_threads(1); }

void matmul(const float* a, const float* b, float* c, int64_t batch, const int64_t* aoff, const int64_t* boff,
            int64_t m, int64_t n, int64_t k, bool ta, bool tb) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    std::memset(c, 0, sizeof(float) * static_cast<size_t>(batch * m * n));
    return;
  }
  if (precision() == Precision::kBf16 && bf16_matmul(a, b, c, batch, aoff, boff, m, n, k, ta, tb)) return;
  const int64_t lda = ta ? m : k, ldb = tb ? k : n;
  if (batch >= num_threads() && batch > 1) {
    const double flops = 2.0 * m * n * k;
    int64_t grain = static_cast<int64_t>(4.0e6 / flops);
    par(batch, grain < 1 ? 1 : grain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) gemm1(ta, tb, m, n, k, a + aoff[i], lda, b + boff[i], ldb, c + i * m * n, n);
    });
    return;
  }
  for (int64_t i = 0; i < batch; ++i) gemm_split(ta, tb, m, n, k, a + aoff[i], b + boff[i], c + i * m * n);
}

}  // namespace lmp
