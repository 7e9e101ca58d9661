// bf16 matrix products with fp32 accumulation on oneDNN, loaded at run time
// (the bf16 precision mode of lmp::matmul, see gemm.h).
//
// oneDNN: the file is compiled against oneDNN's C API headers when they exist
// (libdnnl-dev, 2.x: LMP_HAVE_DNNL) but the addon is never linked to the
// library. The first use of the bf16 mode dlopens libdnnl.so.2 and looks up
// the few functions it calls, so the addon builds and loads where oneDNN is
// absent, and the bf16 mode stays fp32 (with the reason) where the library is
// missing at run time, is another version, or builds no bf16 matmul on this
// CPU (oneDNN 2.x has none below AVX-512).
//
// Threading: oneDNN runs single-threaded on each lmp pool thread (its OpenMP
// runtime is limited to one thread on every thread that calls it, so no
// OpenMP team competes with the pool), and the pool splits the work the way
// gemm.cc does for OpenBLAS: batch entries across threads, or one product
// in blocks of rows (of columns when it is wider than tall and packing B
// once per row block would cost more than copying C).
//
// Data: the operand every block reads whole (B for row blocks, A for column
// blocks) is converted to bf16 once per call, in parallel; each thread
// converts its own block of the other operand into a dense buffer, so every
// oneDNN product is dense (transposes become strides) and oneDNN's brgemm
// kernels apply. C is written in fp32, directly (row blocks) or through a
// dense per-thread buffer (column blocks).
#include <dlfcn.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "gemm.h"
#include "par.h"
#include "pool.h"

// LMP_NO_DNNL builds without the bf16 path even where the headers exist.
#if defined(__has_include) && !defined(LMP_NO_DNNL)
#if __has_include(<oneapi/dnnl/dnnl.h>)
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_version.h>
#if DNNL_VERSION_MAJOR == 2
#define LMP_HAVE_DNNL 1
#endif
#endif
#endif

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace lmp {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// ------------------------------------------------------ fp32 → bf16
// Round to nearest even on the bit pattern: add 0x7fff plus the lowest kept
// bit, keep the upper half. NaN is kept a (quiet) NaN with its sign and top
// payload bits; infinities and values that round past the largest finite
// bf16 become infinities, as in IEEE rounding. Denormals are rounded too
// (no flush to zero), so all variants agree bit for bit.
inline uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u | 0x00400000u) >> 16);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

void cvt_scalar(const float* s, uint16_t* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = to_bf16(s[i]);
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) inline __m256i rne8(__m256i x) {
  const __m256i bias = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1);
  const __m256i abs = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
  const __m256i quiet = _mm256_set1_epi32(0x00400000);
  __m256i r = _mm256_add_epi32(_mm256_add_epi32(x, bias), _mm256_and_si256(_mm256_srli_epi32(x, 16), one));
  __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, abs), inf);
  r = _mm256_blendv_epi8(r, _mm256_or_si256(x, quiet), nan);
  return _mm256_srli_epi32(r, 16);
}

__attribute__((target("avx2"))) void cvt_avx2(const float* s, uint16_t* d, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i lo = rne8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i)));
    __m256i hi = rne8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i + 8)));
    // packus works per 128-bit lane: lo0 hi0 lo1 hi1 → reorder the quarters.
    __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xd8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i), packed);
  }
  for (; i < n; ++i) d[i] = to_bf16(s[i]);
}

// GCC 12 warns about the intrinsics' own _mm512_undefined_* placeholders.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f"))) inline __m256i rne16(__m512i x) {
  const __m512i bias = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
  const __m512i abs = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
  const __m512i quiet = _mm512_set1_epi32(0x00400000);
  __m512i r = _mm512_add_epi32(_mm512_add_epi32(x, bias), _mm512_and_si512(_mm512_srli_epi32(x, 16), one));
  const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(x, abs), inf);
  r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(x, quiet));
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16));
}

__attribute__((target("avx512f"))) void cvt_avx512(const float* s, uint16_t* d, int64_t n) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i lo = rne16(_mm512_loadu_si512(s + i));
    const __m256i hi = rne16(_mm512_loadu_si512(s + i + 16));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i), lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i + 16), hi);
  }
  for (; i + 16 <= n; i += 16) _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i), rne16(_mm512_loadu_si512(s + i)));
  for (; i < n; ++i) d[i] = to_bf16(s[i]);
}
#pragma GCC diagnostic pop
#endif

using CvtFn = void (*)(const float*, uint16_t*, int64_t);

struct CvtVariant {
  const char* name;
  CvtFn fn;
};

// The conversion variants this CPU runs, scalar first.
const std::vector<CvtVariant>& cvt_variants() {
  static const std::vector<CvtVariant>* v = [] {
    auto* out = new std::vector<CvtVariant>{{"scalar", &cvt_scalar}};
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) out->push_back({"avx2", &cvt_avx2});
    if (__builtin_cpu_supports("avx512f")) out->push_back({"avx512", &cvt_avx512});
#endif
    return out;
  }();
  return *v;
}

const CvtVariant& cvt_best() { return cvt_variants().back(); }

std::atomic<int> g_precision{static_cast<int>(Precision::kFp32)};
std::atomic<bool> g_blocked{false};

const char* kBlockedReason = "oneDNN is blocked by setOnednnBlocked(true) (a test hook)";

}  // namespace

const char* bf16_convert_variant() { return cvt_best().name; }

std::vector<std::string> bf16_convert_variants() {
  std::vector<std::string> out;
  for (const CvtVariant& v : cvt_variants()) out.push_back(v.name);
  return out;
}

bool bf16_round(const float* x, float* out, int64_t n, const char* variant) {
  const CvtVariant* use = &cvt_best();
  if (variant) {
    use = nullptr;
    for (const CvtVariant& v : cvt_variants())
      if (std::strcmp(v.name, variant) == 0) use = &v;
    if (!use) return false;
  }
  uint16_t tmp[256];
  for (int64_t i = 0; i < n; i += 256) {
    const int64_t len = n - i < 256 ? n - i : 256;
    use->fn(x + i, tmp, len);
    for (int64_t j = 0; j < len; ++j) {
      const uint32_t u = static_cast<uint32_t>(tmp[j]) << 16;
      std::memcpy(out + i + j, &u, 4);
    }
  }
  return true;
}

Precision precision() { return static_cast<Precision>(g_precision.load(std::memory_order_relaxed)); }

namespace {

// 64-byte aligned scratch that only grows.
class Buf {
 public:
  Buf() = default;
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  ~Buf() { std::free(p_); }
  void* get(size_t bytes) {
    if (bytes > cap_) {
      std::free(p_);
      p_ = nullptr;
      cap_ = 0;
      const size_t want = (bytes + 4095) / 4096 * 4096;
      p_ = std::aligned_alloc(64, want);
      if (!p_) throw std::bad_alloc();
      cap_ = want;
    }
    return p_;
  }

 private:
  void* p_ = nullptr;
  size_t cap_ = 0;
};

struct Stats {
  int64_t calls = 0, executions = 0, converted = 0, fallbacks = 0;
  double convert_s = 0, copy_s = 0, execute_s = 0, wall_s = 0, gflop = 0;
};

#if defined(LMP_HAVE_DNNL)

// The oneDNN C API functions the bf16 path calls, looked up with dlsym.
#define LMP_DNNL_FUNCS(X)                                                                                       \
  X(dnnl_version) X(dnnl_get_effective_cpu_isa) X(dnnl_engine_create) X(dnnl_stream_create) X(dnnl_stream_wait) \
  X(dnnl_memory_desc_init_by_strides) X(dnnl_memory_desc_get_size) X(dnnl_matmul_desc_init)                    \
  X(dnnl_primitive_attr_create) X(dnnl_primitive_attr_destroy) X(dnnl_primitive_attr_set_scratchpad_mode)      \
  X(dnnl_primitive_desc_create) X(dnnl_primitive_desc_query) X(dnnl_primitive_desc_query_md)                   \
  X(dnnl_primitive_desc_destroy) X(dnnl_primitive_create) X(dnnl_primitive_destroy) X(dnnl_primitive_execute)  \
  X(dnnl_memory_create) X(dnnl_memory_destroy)

struct Api {
#define LMP_DECLARE(f) decltype(&::f) f = nullptr;
  LMP_DNNL_FUNCS(LMP_DECLARE)
#undef LMP_DECLARE
  void (*omp_set_num_threads)(int) = nullptr;  // OpenMP builds: set per calling thread
};

// One cached matmul primitive: dense bf16 operands, dense fp32 result.
struct Prim {
  dnnl_primitive_t p = nullptr;
  dnnl_memory_desc_t a{}, b{}, c{}, scratch{};
  size_t scratch_bytes = 0;
  std::string impl;
};

// What each pool thread (by lmp::thread_index) uses in a call.
struct Slot {
  dnnl_stream_t stream = nullptr;
  Buf own, out, scratch;  // its block of one operand (bf16), of C (fp32 column blocks), oneDNN's scratchpad
  double convert_s = 0, copy_s = 0, execute_s = 0;
  int64_t executions = 0, converted = 0;
  bool failed = false;
};

const char* isa_name(unsigned isa) {
  switch (isa) {
    case 0x1: return "sse41";
    case 0x3: return "avx";
    case 0x7: return "avx2";
    case 0x407: return "avx2_vnni";
    case 0xf: return "avx512_mic";
    case 0x1f: return "avx512_mic_4ops";
    case 0x27: return "avx512_core";
    case 0x67: return "avx512_core_vnni";
    case 0xe7: return "avx512_core_bf16";
    case 0x3e7: return "avx512_core_amx";
    default: return nullptr;
  }
}

const char* runtime_name(unsigned r) {
  switch (r) {
    case DNNL_RUNTIME_SEQ: return "seq";
    case DNNL_RUNTIME_OMP: return "omp";
    case DNNL_RUNTIME_TBB: return "tbb";
    case DNNL_RUNTIME_THREADPOOL: return "threadpool";
    default: return "other";
  }
}

thread_local bool t_single = false;  // this thread's OpenMP team size is set to 1

#endif  // LMP_HAVE_DNNL

struct State {
  std::mutex mu;  // serializes loading, the cache and the bf16 calls (their slots)
  bool tried = false, loaded = false;
  std::string reason, last_error;
  Stats stats;
#if defined(LMP_HAVE_DNNL)
  Api api;
  std::string isa, probe_impl, version, runtime, library;
  bool hardware_bf16 = false;
  dnnl_engine_t engine = nullptr;
  std::map<std::array<int64_t, 5>, Prim> cache;
  std::vector<std::unique_ptr<Slot>> slots;
  Buf shared;  // the operand every block reads, in bf16
#endif
};

State& state() {
  static State* s = new State;  // never destroyed: oneDNN objects may outlive static teardown
  return *s;
}

#if defined(LMP_HAVE_DNNL)

void single_thread(State& s) {
  if (!t_single && s.api.omp_set_num_threads) s.api.omp_set_num_threads(1);
  t_single = true;
}

// The primitive for a dense (m×k)·(k×n) product; nullptr (and s.reason set)
// when oneDNN cannot build it. Transposes of an operand with a unit
// dimension are dropped: its memory is the same either way.
const Prim* prim(State& s, int64_t m, int64_t n, int64_t k, bool ta, bool tb, std::string* error) {
  if (m == 1 || k == 1) ta = false;
  if (k == 1 || n == 1) tb = false;
  const std::array<int64_t, 5> key{m, n, k, ta ? 1 : 0, tb ? 1 : 0};
  auto it = s.cache.find(key);
  if (it != s.cache.end()) return &it->second;
  const Api& f = s.api;
  single_thread(s);
  Prim p;
  dnnl_dims_t ad{m, k}, bd{k, n}, cd{m, n};
  dnnl_dims_t as{ta ? 1 : k, ta ? m : 1}, bs{tb ? 1 : n, tb ? k : 1}, cs{n, 1};
  dnnl_primitive_attr_t attr = nullptr;
  dnnl_primitive_desc_t pd = nullptr;
  dnnl_matmul_desc_t desc;
  const char* impl = nullptr;
  auto fail = [&](const char* what, dnnl_status_t st) -> const Prim* {
    if (pd) f.dnnl_primitive_desc_destroy(pd);
    if (attr) f.dnnl_primitive_attr_destroy(attr);
    *error = std::string("oneDNN ") + what + " failed (status " + std::to_string(static_cast<int>(st)) +
             ") for a bf16 " + std::to_string(m) + "x" + std::to_string(k) + "·" + std::to_string(k) + "x" +
             std::to_string(n) + " matmul";
    return nullptr;
  };
  dnnl_status_t st;
  if ((st = f.dnnl_memory_desc_init_by_strides(&p.a, 2, ad, dnnl_bf16, as)) != dnnl_success ||
      (st = f.dnnl_memory_desc_init_by_strides(&p.b, 2, bd, dnnl_bf16, bs)) != dnnl_success ||
      (st = f.dnnl_memory_desc_init_by_strides(&p.c, 2, cd, dnnl_f32, cs)) != dnnl_success)
    return fail("memory descriptor", st);
  if ((st = f.dnnl_matmul_desc_init(&desc, &p.a, &p.b, nullptr, &p.c)) != dnnl_success) return fail("matmul descriptor", st);
  if ((st = f.dnnl_primitive_attr_create(&attr)) != dnnl_success ||
      (st = f.dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)) != dnnl_success)
    return fail("attributes", st);
  if ((st = f.dnnl_primitive_desc_create(&pd, &desc, attr, s.engine, nullptr)) != dnnl_success)
    return fail("primitive descriptor", st);
  if ((st = f.dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl)) == dnnl_success && impl) p.impl = impl;
  if (const dnnl_memory_desc_t* md = f.dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)) {
    p.scratch = *md;
    p.scratch_bytes = f.dnnl_memory_desc_get_size(md);
  }
  if ((st = f.dnnl_primitive_create(&p.p, pd)) != dnnl_success) return fail("primitive", st);
  f.dnnl_primitive_desc_destroy(pd);
  f.dnnl_primitive_attr_destroy(attr);
  return &s.cache.emplace(key, std::move(p)).first->second;
}

bool load(State& s) {
  if (s.tried) return s.loaded;
  s.tried = true;
  const std::string soname = "libdnnl.so." + std::to_string(DNNL_VERSION_MAJOR);
  dlerror();
  void* lib = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = dlerror();
    s.reason = "oneDNN is not installed (" + (e ? std::string(e) : soname) + "; apt-get install libdnnl-dev)";
    return false;
  }
  Api& f = s.api;
#define LMP_LOOKUP(fn)                                                                         \
  f.fn = reinterpret_cast<decltype(f.fn)>(dlsym(lib, #fn));                                    \
  if (!f.fn) {                                                                                 \
    s.reason = "the loaded " + soname + " lacks " #fn " (an incompatible oneDNN build)";       \
    return false;                                                                              \
  }
  LMP_DNNL_FUNCS(LMP_LOOKUP)
#undef LMP_LOOKUP
  const dnnl_version_t* v = f.dnnl_version();
  s.version = std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  s.runtime = runtime_name(v->cpu_runtime);
  Dl_info di;
  if (dladdr(reinterpret_cast<void*>(f.dnnl_version), &di) && di.dli_fname) s.library = di.dli_fname;
  if (v->major != DNNL_VERSION_MAJOR) {
    s.reason = "oneDNN " + s.version + " is loaded; the addon was built for the " + std::to_string(DNNL_VERSION_MAJOR) + ".x C API";
    return false;
  }
  if (v->cpu_runtime == DNNL_RUNTIME_OMP) {
    f.omp_set_num_threads = reinterpret_cast<void (*)(int)>(dlsym(lib, "omp_set_num_threads"));
    if (!f.omp_set_num_threads) {
      s.reason = "oneDNN uses OpenMP but omp_set_num_threads was not found";
      return false;
    }
  } else if (v->cpu_runtime != DNNL_RUNTIME_SEQ) {
    s.reason = "oneDNN's CPU runtime is " + s.runtime + "; the bf16 path needs an OpenMP or sequential build";
    return false;
  }
  single_thread(s);
  const unsigned isa = static_cast<unsigned>(f.dnnl_get_effective_cpu_isa());
  const char* name = isa_name(isa);
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%x", isa);
  s.isa = name ? name : hex;
  s.hardware_bf16 = (isa & 0xe7u) == 0xe7u;  // avx512_core_bf16 and every ISA above it (amx)
  dnnl_status_t st = f.dnnl_engine_create(&s.engine, dnnl_cpu, 0);
  if (st != dnnl_success) {
    s.reason = "oneDNN CPU engine creation failed (status " + std::to_string(static_cast<int>(st)) + ")";
    return false;
  }
  std::string error;
  const Prim* probe = prim(s, 64, 64, 64, false, false, &error);
  if (!probe) {
    s.reason = "oneDNN " + s.version + " has no bf16 matmul on this CPU (effective ISA " + s.isa + "): " + error;
    return false;
  }
  s.probe_impl = probe->impl;
  s.loaded = true;
  return true;
}

Slot* slot_for(State& s, int index) { return s.slots[static_cast<size_t>(index)].get(); }

// Makes sure there is a slot (with a stream) per pool thread; false on failure.
// `extent` rows (or columns) cut into about `want` blocks of a multiple of
// 64: the block size, the number of blocks and the size of the last one.
struct Blocks {
  int64_t block, parts, last;
};
Blocks split_blocks(int64_t extent, int64_t want) {
  int64_t block = (extent + want - 1) / want;
  block = (block + 63) / 64 * 64;
  const int64_t parts = (extent + block - 1) / block;
  return Blocks{block, parts, extent - (parts - 1) * block};
}

bool ensure_slots(State& s, int threads) {
  while (static_cast<int>(s.slots.size()) < threads) {
    auto slot = std::make_unique<Slot>();
    if (s.api.dnnl_stream_create(&slot->stream, s.engine, dnnl_stream_default_flags) != dnnl_success) return false;
    s.slots.push_back(std::move(slot));
  }
  return true;
}

// Runs a cached primitive on dense operands on the calling thread.
void execute(State& s, Slot& slot, const Prim& p, const uint16_t* a, const uint16_t* b, float* c) {
  single_thread(s);
  const Api& f = s.api;
  const auto t0 = Clock::now();
  dnnl_memory_t ma = nullptr, mb = nullptr, mc = nullptr, ms = nullptr;
  bool ok = f.dnnl_memory_create(&ma, &p.a, s.engine, const_cast<uint16_t*>(a)) == dnnl_success &&
            f.dnnl_memory_create(&mb, &p.b, s.engine, const_cast<uint16_t*>(b)) == dnnl_success &&
            f.dnnl_memory_create(&mc, &p.c, s.engine, c) == dnnl_success;
  int nargs = 3;
  dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}, {DNNL_ARG_SCRATCHPAD, nullptr}};
  if (ok && p.scratch_bytes > 0) {
    ok = f.dnnl_memory_create(&ms, &p.scratch, s.engine, slot.scratch.get(p.scratch_bytes)) == dnnl_success;
    args[3].memory = ms;
    nargs = 4;
  }
  if (ok) ok = f.dnnl_primitive_execute(p.p, slot.stream, nargs, args) == dnnl_success &&
               f.dnnl_stream_wait(slot.stream) == dnnl_success;
  for (dnnl_memory_t mem : {ma, mb, mc, ms})
    if (mem) f.dnnl_memory_destroy(mem);
  if (!ok) slot.failed = true;
  slot.execute_s += since(t0);
  slot.executions += 1;
}

// Converts rows [r0, r0+nr) × columns [c0, c0+nc) of a row-major fp32 matrix
// with leading dimension ld into a dense nr×nc bf16 block.
void cvt_block(CvtFn cvt, const float* x, int64_t ld, int64_t r0, int64_t nr, int64_t c0, int64_t nc, uint16_t* dst) {
  if (nc == ld) {
    cvt(x + r0 * ld, dst, nr * nc);
    return;
  }
  for (int64_t r = 0; r < nr; ++r) cvt(x + (r0 + r) * ld + c0, dst + r * nc, nc);
}

// Converts n contiguous values, in parallel when there are many.
void cvt_shared(State& s, CvtFn cvt, const float* x, uint16_t* dst, int64_t n) {
  constexpr int64_t kChunk = 1 << 16;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  par(chunks, 1, [&](int64_t lo, int64_t hi) {
    Slot& slot = *slot_for(s, thread_index());
    const auto t0 = Clock::now();
    const int64_t b = lo * kChunk, e = hi * kChunk < n ? hi * kChunk : n;
    cvt(x + b, dst + b, e - b);
    slot.convert_s += since(t0);
    slot.converted += e - b;
  });
}

bool run_bf16(State& s, const float* a, const float* b, float* c, int64_t batch, const int64_t* aoff,
              const int64_t* boff, int64_t m, int64_t n, int64_t k, bool ta, bool tb, std::string* error) {
  const int threads = num_threads();
  if (!ensure_slots(s, threads)) {
    *error = "oneDNN stream creation failed";
    return false;
  }
  for (auto& slot : s.slots) {
    slot->convert_s = slot->copy_s = slot->execute_s = 0;
    slot->executions = slot->converted = 0;
    slot->failed = false;
  }
  const CvtFn cvt = cvt_best().fn;
  const double flops = 2.0 * m * n * k;
  const int64_t lda = ta ? m : k, ldb = tb ? k : n;
  const bool batched = batch >= threads && batch > 1;
  const bool split = !batched && threads > 1 && flops >= 4.0e6;
  // Row blocks each pack all of B (k·n) inside oneDNN; column blocks pay a
  // copy of C (m·n fp32) instead: rows unless the extra packing is larger.
  const int64_t want = flops > 1.0e8 ? 2 * threads : threads;
  const bool along_m = m >= n || (want - 1) * k <= 2 * m;

  if (!split || along_m) {
    // Row blocks, batch entries or whole products: B is shared, in bf16 once.
    int64_t bmin = boff[0], bmax = boff[0];
    for (int64_t i = 1; i < batch; ++i) {
      bmin = boff[i] < bmin ? boff[i] : bmin;
      bmax = boff[i] > bmax ? boff[i] : bmax;
    }
    const int64_t bspan = bmax - bmin + k * n;
    uint16_t* bb = static_cast<uint16_t*>(s.shared.get(static_cast<size_t>(bspan) * 2));
    cvt_shared(s, cvt, b + bmin, bb, bspan);
    if (!split) {
      const Prim* p = prim(s, m, n, k, ta, tb, error);
      if (!p) return false;
      for (auto& slot : s.slots) {
        slot->own.get(static_cast<size_t>(m * k) * 2);
        slot->scratch.get(p->scratch_bytes);
      }
      auto entry = [&](int64_t i) {
        Slot& slot = *slot_for(s, thread_index());
        const auto t0 = Clock::now();
        uint16_t* ab = static_cast<uint16_t*>(slot.own.get(0));
        cvt(a + aoff[i], ab, m * k);
        slot.convert_s += since(t0);
        slot.converted += m * k;
        execute(s, slot, *p, ab, bb + (boff[i] - bmin), c + i * m * n);
      };
      if (batched) {
        int64_t grain = static_cast<int64_t>(4.0e6 / flops);
        par(batch, grain < 1 ? 1 : grain, [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) entry(i);
        });
      } else {
        for (int64_t i = 0; i < batch; ++i) entry(i);
      }
    } else {
      // Each thread converts its rows of op(A) into a dense block.
      const Blocks rows = split_blocks(m, want);
      const int64_t block = rows.block, parts = rows.parts, last = rows.last;
      const Prim* pb = prim(s, block, n, k, ta, tb, error);
      const Prim* pl = pb ? prim(s, last, n, k, ta, tb, error) : nullptr;
      if (!pb || !pl) return false;
      for (auto& slot : s.slots) {
        slot->own.get(static_cast<size_t>(block * k) * 2);
        slot->scratch.get(pb->scratch_bytes > pl->scratch_bytes ? pb->scratch_bytes : pl->scratch_bytes);
      }
      for (int64_t i = 0; i < batch; ++i) {
        const float* ai = a + aoff[i];
        const uint16_t* bi = bb + (boff[i] - bmin);
        float* ci = c + i * m * n;
        par(parts, 1, [&](int64_t lo, int64_t hi) {
          Slot& slot = *slot_for(s, thread_index());
          for (int64_t q = lo; q < hi; ++q) {
            const int64_t r0 = q * block, len = q == parts - 1 ? last : block;
            const auto t0 = Clock::now();
            uint16_t* ab = static_cast<uint16_t*>(slot.own.get(0));
            if (ta) cvt_block(cvt, ai, lda, 0, k, r0, len, ab);  // stored k×m: columns r0.. → dense k×len
            else cvt_block(cvt, ai, lda, r0, len, 0, k, ab);     // stored m×k: rows r0.. → dense len×k
            slot.convert_s += since(t0);
            slot.converted += len * k;
            execute(s, slot, q == parts - 1 ? *pl : *pb, ab, bi, ci + r0 * n);
          }
        }, static_cast<size_t>(parts));
      }
    }
  } else {
    // Column blocks: A is shared, in bf16 once; each thread converts its
    // columns of op(B) and computes its columns of C in a dense buffer.
    int64_t amin = aoff[0], amax = aoff[0];
    for (int64_t i = 1; i < batch; ++i) {
      amin = aoff[i] < amin ? aoff[i] : amin;
      amax = aoff[i] > amax ? aoff[i] : amax;
    }
    const int64_t aspan = amax - amin + m * k;
    uint16_t* ab = static_cast<uint16_t*>(s.shared.get(static_cast<size_t>(aspan) * 2));
    cvt_shared(s, cvt, a + amin, ab, aspan);
    const Blocks cols = split_blocks(n, want);
    const int64_t block = cols.block, parts = cols.parts, last = cols.last;
    const Prim* pb = prim(s, m, block, k, ta, tb, error);
    const Prim* pl = pb ? prim(s, m, last, k, ta, tb, error) : nullptr;
    if (!pb || !pl) return false;
    for (auto& slot : s.slots) {
      slot->own.get(static_cast<size_t>(block * k) * 2);
      slot->out.get(static_cast<size_t>(m * block) * 4);
      slot->scratch.get(pb->scratch_bytes > pl->scratch_bytes ? pb->scratch_bytes : pl->scratch_bytes);
    }
    for (int64_t i = 0; i < batch; ++i) {
      const uint16_t* ai = ab + (aoff[i] - amin);
      const float* bi = b + boff[i];
      float* ci = c + i * m * n;
      par(parts, 1, [&](int64_t lo, int64_t hi) {
        Slot& slot = *slot_for(s, thread_index());
        for (int64_t q = lo; q < hi; ++q) {
          const int64_t c0 = q * block, len = q == parts - 1 ? last : block;
          auto t0 = Clock::now();
          uint16_t* bblk = static_cast<uint16_t*>(slot.own.get(0));
          if (tb) cvt_block(cvt, bi, ldb, c0, len, 0, k, bblk);  // stored n×k: rows c0.. → dense len×k
          else cvt_block(cvt, bi, ldb, 0, k, c0, len, bblk);     // stored k×n: columns c0.. → dense k×len
          slot.convert_s += since(t0);
          slot.converted += len * k;
          float* out = static_cast<float*>(slot.out.get(0));
          execute(s, slot, q == parts - 1 ? *pl : *pb, ai, bblk, out);
          t0 = Clock::now();
          for (int64_t r = 0; r < m; ++r) std::memcpy(ci + r * n + c0, out + r * len, sizeof(float) * len);
          slot.copy_s += since(t0);
        }
      }, static_cast<size_t>(parts));
    }
  }
  for (auto& slot : s.slots) {
    s.stats.convert_s += slot->convert_s;
    s.stats.copy_s += slot->copy_s;
    s.stats.execute_s += slot->execute_s;
    s.stats.executions += slot->executions;
    s.stats.converted += slot->converted;
    if (slot->failed) {
      *error = "a oneDNN matmul execution failed";
      return false;
    }
  }
  return true;
}

#else  // !LMP_HAVE_DNNL

bool load(State& s) {
  s.tried = true;
  s.reason = "the addon was built without oneDNN headers (apt-get install libdnnl-dev, then npm run build:native)";
  return false;
}

#endif  // LMP_HAVE_DNNL

}  // namespace

Precision set_precision(Precision p) {
  if (p == Precision::kBf16) {
    State& s = state();
    std::lock_guard<std::mutex> lk(s.mu);
    if (g_blocked.load() || !load(s)) p = Precision::kFp32;
  }
  g_precision.store(static_cast<int>(p), std::memory_order_relaxed);
  return p;
}

void set_bf16_blocked(bool blocked) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  g_blocked.store(blocked);
  if (blocked) g_precision.store(static_cast<int>(Precision::kFp32), std::memory_order_relaxed);
}

Bf16Status bf16_status() {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Bf16Status out;
  out.blocked = g_blocked.load();
  const bool ok = load(s);
  out.available = ok && !out.blocked;
  out.reason = out.blocked ? kBlockedReason : s.reason;
#if defined(LMP_HAVE_DNNL)
  out.headers = true;
  out.isa = s.isa;
  out.hardware_bf16 = s.hardware_bf16;
  out.probe_impl = s.probe_impl;
  out.version = s.version;
  out.runtime = s.runtime;
  out.library = s.library;
  out.primitives = static_cast<int64_t>(s.cache.size());
  for (const auto& kv : s.cache) {
    bool seen = false;
    for (const std::string& x : out.impls) seen = seen || x == kv.second.impl;
    if (!seen) out.impls.push_back(kv.second.impl);
  }
#endif
  out.calls = s.stats.calls;
  out.fallbacks = s.stats.fallbacks;
  out.last_error = s.last_error;
  out.executions = s.stats.executions;
  out.converted = s.stats.converted;
  out.convert_s = s.stats.convert_s;
  out.copy_s = s.stats.copy_s;
  out.execute_s = s.stats.execute_s;
  out.wall_s = s.stats.wall_s;
  out.gflop = s.stats.gflop;
  return out;
}

void reset_bf16_stats() {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  s.stats = Stats();
}

bool bf16_matmul(const float* a, const float* b, float* c, int64_t batch, const int64_t* aoff, const int64_t* boff,
                 int64_t m, int64_t n, int64_t k, bool ta, bool tb) {
#if defined(LMP_HAVE_DNNL)
  if (batch <= 0) return true;
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  if (g_blocked.load() || !load(s)) return false;
  const auto t0 = Clock::now();
  std::string error;
  bool ok;
  try {
    ok = run_bf16(s, a, b, c, batch, aoff, boff, m, n, k, ta, tb, &error);
  } catch (const std::bad_alloc&) {
    ok = false;
    error = "out of memory for the bf16 operands";
  }
  if (!ok) {
    // This call runs in fp32 (the caller's path); said once per distinct reason.
    s.stats.fallbacks += 1;
    if (error != s.last_error) std::fprintf(stderr, "lmpipe native: a bf16 matmul ran in fp32: %s\n", error.c_str());
    s.last_error = error;
    return false;
  }
  s.stats.calls += 1;
  s.stats.gflop += 2.0 * m * n * k * batch / 1e9;
  s.stats.wall_s += since(t0);
  return true;
#else
  (void)a, (void)b, (void)c, (void)batch, (void)aoff, (void)boff, (void)m, (void)n, (void)k, (void)ta, (void)tb;
  return false;
#endif
}

}  // namespace lmp
