#include "kernels.h"

#include <cstdlib>
#include <cstring>

namespace lmp {

static bool cpu_has_avx2() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

const Kernels& kernels() {
  static const Kernels table = [] {
    const char* want = std::getenv("LMPIPE_NATIVE_ISA");
    bool base_only = want && std::strcmp(want, "base") == 0;
    return (!base_only && cpu_has_avx2()) ? avx2::table() : base::table();
  }();
  return table;
}

}  // namespace lmp
