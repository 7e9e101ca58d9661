#include "kernels.h"

#include <atomic>
#include <cstring>

namespace lmp {

bool cpu_has_avx2() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

namespace {

const Kernels& base_kernels() {
  static const Kernels table = base::table();
  return table;
}

const Kernels& avx2_kernels() {
  static const Kernels table = avx2::table();
  return table;
}

std::atomic<const Kernels*> g_active{nullptr};

}  // namespace

const Kernels& kernels() {
  const Kernels* k = g_active.load(std::memory_order_acquire);
  if (k == nullptr) {
    k = cpu_has_avx2() ? &avx2_kernels() : &base_kernels();
    g_active.store(k, std::memory_order_release);
  }
  return *k;
}

bool select_isa(const char* name) {
  if (std::strcmp(name, kIsaBaseline) == 0) {
    g_active.store(&base_kernels(), std::memory_order_release);
    return true;
  }
  // The AVX2 table is built by AVX2 code: never touched on a CPU without it.
  if (std::strcmp(name, kIsaAvx2) == 0 && cpu_has_avx2()) {
    g_active.store(&avx2_kernels(), std::memory_order_release);
    return true;
  }
  return false;
}

}  // namespace lmp
