// The tokenizer hot loops with AVX-512BW runs of ASCII classes, 64 bytes at a
// time (masked loads at the end of a piece); chosen at run time only when the
// CPU reports AVX-512F and AVX-512BW. Headers come before the target pragma.
#include "tok_core.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx2,bmi,bmi2,popcnt")
#define LMP_TOK_ISA 2
#else
#define LMP_TOK_ISA 0
#endif

namespace lmp {
namespace tok {
namespace avx512 {
#define LMP_TOK_NAME "avx512"
#include "tok_scan.inc"
#undef LMP_TOK_NAME
}  // namespace avx512
}  // namespace tok
}  // namespace lmp

#undef LMP_TOK_ISA
#if defined(__x86_64__) || defined(__i386__)
#pragma GCC pop_options
#endif
