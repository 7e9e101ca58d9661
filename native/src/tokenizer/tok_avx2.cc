// The tokenizer hot loops with AVX2 (+BMI) runs of ASCII classes, 32 bytes at
// a time; chosen at run time only when the CPU reports AVX2. Headers come
// before the target pragma, so only tok_scan.inc is compiled for AVX2.
#include "tok_core.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#pragma GCC push_options
#pragma GCC target("avx2,bmi,bmi2,popcnt")
#define LMP_TOK_ISA 1
#else
#define LMP_TOK_ISA 0
#endif

namespace lmp {
namespace tok {
namespace avx2 {
#define LMP_TOK_NAME "avx2"
#include "tok_scan.inc"
#undef LMP_TOK_NAME
}  // namespace avx2
}  // namespace tok
}  // namespace lmp

#undef LMP_TOK_ISA
#if defined(__x86_64__) || defined(__i386__)
#pragma GCC pop_options
#endif
