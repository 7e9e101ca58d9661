// Data movement kernels: transpose, gather, scatter-add, slice, concat.
// Element-size generic (1, 2, 4 or 8 bytes) where the dtype does not matter.
#pragma once
#include <cstdint>

namespace lmp {

// out = x transposed by perm; `shape` is x's shape.
void transpose(const void* x, void* out, int elem, int rank, const int64_t* shape, const int32_t* perm);

// out (outer, n, inner) = x (outer, dim, inner) rows picked by idx (n).
// Returns the position of the first index outside [0, dim), or -1.
int64_t gather(const void* x, const int32_t* idx, void* out, int elem, int64_t outer, int64_t dim, int64_t n,
               int64_t inner);

// out (segments, inner) += x (n, inner) rows by ids; ids outside [0, segments) are skipped.
void scatter_add(const float* x, const int32_t* ids, float* out, int64_t n, int64_t inner, int64_t segments);

// out = x[begin : begin + size] (per dimension); `shape` is x's shape.
void slice(const void* x, void* out, int elem, int rank, const int64_t* shape, const int64_t* begin,
           const int64_t* size);

// out (outer, Σ widths) = the inputs (outer, widths[i]) side by side.
void concat(const void* const* inputs, const int64_t* widths, int count, void* out, int elem, int64_t outer);

}  // namespace lmp
