// Kernels compiled with AVX2 + FMA, used only when the CPU reports both.
// Every header is included before the target pragma, so only the code of
// kernels.inc (namespace lmp::avx2, no shared template instantiations) is
// compiled for AVX2.
#include <cblas.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "kernels.h"
#include "pool.h"

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

namespace lmp {
namespace avx2 {
#define LMP_KNS_NAME kIsaAvx2
#include "kernels.inc"
#undef LMP_KNS_NAME
}  // namespace avx2
}  // namespace lmp

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC pop_options
#endif
