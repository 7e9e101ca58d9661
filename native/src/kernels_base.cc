// Kernels for the baseline x86-64 instruction set (SSE2).
#include <cblas.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "kernels.h"
#include "pool.h"

namespace lmp {
namespace base {
#define LMP_KNS_NAME kIsaBaseline
#include "kernels.inc"
#undef LMP_KNS_NAME
}  // namespace base
}  // namespace lmp
