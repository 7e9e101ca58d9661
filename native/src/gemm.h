// Float32 matrix products on OpenBLAS, threaded by the lmp pool; with the
// bf16 precision mode, on oneDNN's bf16 matmul with fp32 accumulation
// (gemm_bf16.cc), falling back to OpenBLAS wherever oneDNN is unavailable.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lmp {

// Configures OpenBLAS for use under the pool: one OpenBLAS thread, the pool
// splits the work.
void gemm_init();

// c[i] = op(a[aoff[i]]) · op(b[boff[i]]) for i < batch, where op transposes
// when ta/tb; each product is (m×k)·(k×n) → m×n, row-major, c dense. In bf16
// mode the operands are rounded to bf16 and the products accumulate in fp32.
void matmul(const float* a, const float* b, float* c, int64_t batch, const int64_t* aoff, const int64_t* boff,
            int64_t m, int64_t n, int64_t k, bool ta, bool tb);

// ------------------------------------------------------------- precision
// Process-wide precision of `matmul` (gemm_bf16.cc).
enum class Precision : int { kFp32 = 0, kBf16 = 1 };

Precision precision();

// Makes `p` the precision of every later `matmul`; bf16 loads oneDNN on
// first use and stays fp32 when it is unavailable (bf16_status says why).
// Returns the precision now active.
Precision set_precision(Precision p);

// What the bf16 path found when it loaded oneDNN, and what it has run since.
struct Bf16Status {
  bool available = false;   // oneDNN loaded and builds a bf16 matmul here
  std::string reason;       // why not, when !available
  bool blocked = false;     // set_bf16_blocked(true) is in force
  std::string isa;          // dnnl_get_effective_cpu_isa, e.g. "avx512_core_bf16"
  bool hardware_bf16 = false;  // that ISA has bf16 dot products (avx512_core_bf16, amx)
  std::string probe_impl;   // impl info of a probe matmul, e.g. "brg:avx512_core_bf16"
  std::vector<std::string> impls;  // every impl info string the cached primitives use
  std::string version;      // "2.6.3"
  std::string runtime;      // oneDNN's CPU threading runtime: "omp", "seq", ...
  std::string library;      // path of the loaded libdnnl
  bool headers = false;     // the addon was compiled against oneDNN headers
  int64_t primitives = 0;   // cached matmul primitives (one per block shape)
  // Counters since the last reset: bf16 matmul calls, oneDNN executions,
  // fp32 values converted to bf16; seconds summed over threads converting,
  // copying column blocks of C into place and inside oneDNN; wall seconds
  // of the calls; their GFLOP.
  int64_t calls = 0, executions = 0, converted = 0;
  int64_t fallbacks = 0;   // bf16 calls that ran in fp32 (a primitive oneDNN could not build or run)
  std::string last_error;  // why the last of those did
  double convert_s = 0, copy_s = 0, execute_s = 0, wall_s = 0, gflop = 0;
};

Bf16Status bf16_status();
void reset_bf16_stats();

// Test hook: while blocked, the bf16 path reports itself unavailable (as on
// a machine without oneDNN) and set_precision(kBf16) stays fp32; blocking
// also switches an active bf16 mode back to fp32.
void set_bf16_blocked(bool blocked);

// fp32 → bf16 rounding to nearest even (NaN stays a quiet NaN), the
// conversion the bf16 path uses; variants "avx512" (AVX-512F), "avx2",
// "scalar", all bit-identical. `bf16_convert_variants` lists what this CPU
// runs (scalar first, the active one last).
const char* bf16_convert_variant();
std::vector<std::string> bf16_convert_variants();
// out[i] = float(bf16(x[i])) with `variant` (nullptr: the active one);
// false if this CPU cannot run it.
bool bf16_round(const float* x, float* out, int64_t n, const char* variant);

// The bf16 product behind `matmul` in bf16 mode (same arguments); false when
// it did not run (oneDNN unavailable, a primitive it cannot build), c then
// untouched or to be overwritten by the caller's fp32 path.
bool bf16_matmul(const float* a, const float* b, float* c, int64_t batch, const int64_t* aoff, const int64_t* boff,
                 int64_t m, int64_t n, int64_t k, bool ta, bool tb);

}  // namespace lmp
