#include "layout.h"

#include <cstring>
#include <vector>

#include "par.h"
#include "pool.h"

namespace lmp {
namespace {

constexpr int64_t kBytesPerChunk = 1 << 17;

int64_t grain_for(int64_t row_bytes) {
  int64_t g = kBytesPerChunk / (row_bytes > 0 ? row_bytes : 1);
  return g < 1 ? 1 : g;
}

template <class T>
void transpose_t(const T* x, T* out, int rank, const int64_t* shape, const int32_t* perm) {
  std::vector<int64_t> in_stride(rank), os(rank), st(rank);
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; --d) { in_stride[d] = s; s *= shape[d]; }
  for (int i = 0; i < rank; ++i) { os[i] = shape[perm[i]]; st[i] = in_stride[perm[i]]; }
  const int64_t inner = os[rank - 1];
  const int64_t inner_stride = st[rank - 1];
  int64_t rows = 1;
  for (int i = 0; i < rank - 1; ++i) rows *= os[i];
  par(rows, grain_for(inner * static_cast<int64_t>(sizeof(T))), [&](int64_t lo, int64_t hi) {
    int64_t idx[16];
    int64_t rem = lo, off = 0;
    for (int d = rank - 2; d >= 0; --d) {
      idx[d] = rem % os[d];
      rem /= os[d];
      off += idx[d] * st[d];
    }
    for (int64_t r = lo; r < hi; ++r) {
      T* dst = out + r * inner;
      if (inner_stride == 1) {
        std::memcpy(dst, x + off, sizeof(T) * inner);
      } else {
        const T* src = x + off;
        for (int64_t j = 0; j < inner; ++j) dst[j] = src[j * inner_stride];
      }
      for (int d = rank - 2; d >= 0; --d) {
        ++idx[d];
        off += st[d];
        if (idx[d] < os[d]) break;
        off -= idx[d] * st[d];
        idx[d] = 0;
      }
    }
  });
}

}  // namespace

void transpose(const void* x, void* out, int elem, int rank, const int64_t* shape, const int32_t* perm) {
  if (rank == 0) {
    std::memcpy(out, x, elem);
    return;
  }
  switch (elem) {
    case 1: transpose_t(static_cast<const uint8_t*>(x), static_cast<uint8_t*>(out), rank, shape, perm); break;
    case 2: transpose_t(static_cast<const uint16_t*>(x), static_cast<uint16_t*>(out), rank, shape, perm); break;
    case 4: transpose_t(static_cast<const uint32_t*>(x), static_cast<uint32_t*>(out), rank, shape, perm); break;
    default: transpose_t(static_cast<const uint64_t*>(x), static_cast<uint64_t*>(out), rank, shape, perm); break;
  }
}

int64_t gather(const void* x, const int32_t* idx, void* out, int elem, int64_t outer, int64_t dim, int64_t n,
               int64_t inner) {
  for (int64_t i = 0; i < n; ++i)
    if (idx[i] < 0 || idx[i] >= dim) return i;
  const int64_t row = inner * elem;
  const char* src = static_cast<const char*>(x);
  char* dst = static_cast<char*>(out);
  par(outer * n, grain_for(row), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t o = r / n, i = r % n;
      std::memcpy(dst + r * row, src + (o * dim + idx[i]) * row, row);
    }
  });
  return -1;
}

void scatter_add(const float* x, const int32_t* ids, float* out, int64_t n, int64_t inner, int64_t segments) {
  // Threads own column ranges, so no two threads write the same element.
  const int64_t col_grain = inner >= 64 ? 32 : inner;
  par(inner, col_grain, [&](int64_t c0, int64_t c1) {
    for (int64_t i = 0; i < n; ++i) {
      const int32_t s = ids[i];
      if (s < 0 || s >= segments) continue;
      const float* src = x + i * inner;
      float* dst = out + s * inner;
      for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  });
}

void slice(const void* x, void* out, int elem, int rank, const int64_t* shape, const int64_t* begin,
           const int64_t* size) {
  if (rank == 0) {
    std::memcpy(out, x, elem);
    return;
  }
  std::vector<int64_t> stride(rank);
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; --d) { stride[d] = s; s *= shape[d]; }
  int64_t base = 0;
  for (int d = 0; d < rank; ++d) base += begin[d] * stride[d];
  const int64_t inner = size[rank - 1];
  int64_t rows = 1;
  for (int d = 0; d < rank - 1; ++d) rows *= size[d];
  const char* src = static_cast<const char*>(x);
  char* dst = static_cast<char*>(out);
  par(rows, grain_for(inner * elem), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      int64_t rem = r, off = base;
      for (int d = rank - 2; d >= 0; --d) {
        off += (rem % size[d]) * stride[d];
        rem /= size[d];
      }
      std::memcpy(dst + r * inner * elem, src + off * elem, inner * elem);
    }
  });
}

void concat(const void* const* inputs, const int64_t* widths, int count, void* out, int elem, int64_t outer) {
  int64_t total = 0;
  std::vector<int64_t> start(count);
  for (int i = 0; i < count; ++i) { start[i] = total; total += widths[i]; }
  char* dst = static_cast<char*>(out);
  par(outer, grain_for(total * elem), [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o)
      for (int i = 0; i < count; ++i)
        std::memcpy(dst + (o * total + start[i]) * elem, static_cast<const char*>(inputs[i]) + o * widths[i] * elem,
                    widths[i] * elem);
  });
}

}  // namespace lmp
