// Node-API surface of the lmpipe native kernels. Every function is
// synchronous, takes its tensors as typed arrays (inputs and preallocated
// outputs) plus sizes, checks that the arrays are large enough for the sizes
// (a wrong call throws instead of touching memory out of bounds), and
// returns after the work is done (the caller's thread takes part in it).
#include <napi.h>

#include <climits>
#include <cmath>
#include <string>
#include <vector>

#include "gemm.h"
#include "kernels.h"
#include "layout.h"
#include "napi_args.h"
#include "pool.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace lmp {
namespace tok {
// The tokenizer core's functions (native/src/tokenizer/tok_napi.cc).
void register_tokenizer(Napi::Env env, Napi::Object exports);
}  // namespace tok
// The reader formats' functions: JSON Lines extraction (native/src/formats/jsonl.cc).
void register_formats(Napi::Env env, Napi::Object exports);
// Memory-mapped token files (native/src/map_file.cc).
void register_map_file(Napi::Env env, Napi::Object exports);
// The matmul precision: fp32 (OpenBLAS) or bf16 (oneDNN) (native/src/bf16_napi.cc).
void register_precision(Napi::Env env, Napi::Object exports);
}  // namespace lmp

extern "C" {
char* openblas_get_corename(void);
char* openblas_get_config(void);
}

namespace {

using lmp::kernels;

// The training kernels' arguments: typed arrays with a minimum length (the
// tensor's element count), sizes and shapes (napi_args.h).
class Args : public lmp::NapiArgs {
 public:
  using NapiArgs::NapiArgs;
  using NapiArgs::i32;
  using NapiArgs::u8;
  float* f32(size_t i, int64_t min_len) const { return array_min<float>(i, napi_float32_array, "Float32Array", min_len); }
  int32_t* i32(size_t i, int64_t min_len) const { return array_min<int32_t>(i, napi_int32_array, "Int32Array", min_len); }
  uint8_t* u8(size_t i, int64_t min_len) const { return array_min<uint8_t>(i, napi_uint8_array, "Uint8Array", min_len); }
  // A non-negative safe integer (a size or count).
  int64_t size(size_t i) const { return static_cast<int64_t>(index(i)); }
};

int64_t product(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (int64_t d : v) p *= d;
  return p;
}

// Elements an operand must have to be read with `stride` over `shape`.
int64_t span(const std::vector<int64_t>& shape, const std::vector<int64_t>& stride) {
  int64_t s = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0) return 0;
    s += (shape[d] - 1) * stride[d];
  }
  return s;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("isa", kernels().isa);
  o.Set("threads", lmp::num_threads());
  o.Set("openblasCore", openblas_get_corename());
  o.Set("openblasConfig", openblas_get_config());
  return o;
}

// isas(): the kernel variants this CPU can run, baseline first.
Napi::Value Isas(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  out.Set(uint32_t{0}, lmp::kIsaBaseline);
  if (lmp::cpu_has_avx2()) out.Set(uint32_t{1}, lmp::kIsaAvx2);
  return out;
}

// setIsa(name): makes that kernel variant the active one; returns its name.
Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Args a(info, "setIsa");
  if (info.Length() < 1 || !info[0].IsString()) a.fail(0, "must be a string");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  if (!lmp::select_isa(name.c_str())) a.fail(0, "\"" + name + "\" is not a kernel variant this CPU runs");
  return Napi::String::New(info.Env(), kernels().isa);
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Args a(info, "setThreads");
  int64_t n = a.size(0);
  if (n < 1 || n > 256) a.fail(0, "must be between 1 and 256");
  lmp::set_num_threads(static_cast<int>(n));
  return Napi::Number::New(info.Env(), lmp::num_threads());
}

// matmul(a, b, c, batch, aoff: Float64Array, boff: Float64Array, m, n, k, ta, tb)
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Args a(info, "matmul");
  const int64_t batch = a.size(3), m = a.size(6), n = a.size(7), k = a.size(8);
  const bool ta = a.flag(9), tb = a.flag(10);
  const double* aoffd = a.array_min<double>(4, napi_float64_array, "Float64Array", batch);
  const double* boffd = a.array_min<double>(5, napi_float64_array, "Float64Array", batch);
  int ea, eb;
  int64_t la, lb;
  a.raw(0, &ea, &la);
  a.raw(1, &eb, &lb);
  std::vector<int64_t> aoff(batch), boff(batch);
  for (int64_t i = 0; i < batch; ++i) {
    aoff[i] = static_cast<int64_t>(aoffd[i]);
    boff[i] = static_cast<int64_t>(boffd[i]);
    if (aoff[i] < 0 || aoff[i] + m * k > la) a.fail(4, "points outside operand a");
    if (boff[i] < 0 || boff[i] + k * n > lb) a.fail(5, "points outside operand b");
  }
  const float* pa = a.f32(0, 0);
  const float* pb = a.f32(1, 0);
  float* pc = a.f32(2, batch * m * n);
  lmp::matmul(pa, pb, pc, batch, aoff.data(), boff.data(), m, n, k, ta, tb);
  return info.Env().Undefined();
}

// binary(op, a, b, out, shape, aStrides, bStrides); compare(...) writes a Uint8Array.
Napi::Value BinaryOrCompare(const Napi::CallbackInfo& info, bool is_compare) {
  Args a(info, is_compare ? "compare" : "binary");
  const int64_t op = a.integer(0);
  std::vector<int64_t> shape = a.ints(4), sa = a.ints(5), sb = a.ints(6);
  if (shape.size() > 15 || sa.size() != shape.size() || sb.size() != shape.size())
    a.fail(4, "shape and strides must have the same rank (at most 15)");
  const float* pa = a.f32(1, span(shape, sa));
  const float* pb = a.f32(2, span(shape, sb));
  const int64_t total = product(shape);
  if (total == 0) return info.Env().Undefined();
  if (is_compare) {
    if (op < lmp::kEq || op > lmp::kGe) a.fail(0, "is not a comparison op code");
    kernels().compare(static_cast<int>(op), pa, pb, a.u8(3, total), static_cast<int>(shape.size()), shape.data(),
                      sa.data(), sb.data());
  } else {
    if (op < lmp::kAdd || op > lmp::kSqDiff) a.fail(0, "is not a binary op code");
    kernels().binary(static_cast<int>(op), pa, pb, a.f32(3, total), static_cast<int>(shape.size()), shape.data(),
                     sa.data(), sb.data());
  }
  return info.Env().Undefined();
}

Napi::Value Binary(const Napi::CallbackInfo& info) { return BinaryOrCompare(info, false); }
Napi::Value Compare(const Napi::CallbackInfo& info) { return BinaryOrCompare(info, true); }

// unary(op, x, out, alpha)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  Args a(info, "unary");
  const int64_t op = a.integer(0);
  if (op < lmp::kExp || op > lmp::kGelu) a.fail(0, "is not a unary op code");
  int elem;
  int64_t n;
  a.raw(1, &elem, &n);
  kernels().unary(static_cast<int>(op), a.f32(1, n), a.f32(2, n), n, static_cast<float>(a.num(3)));
  return info.Env().Undefined();
}

// reduce(op, x, out, outer, r, inner)
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Args a(info, "reduce");
  const int64_t op = a.integer(0);
  if (op < lmp::kSum || op > lmp::kRMin) a.fail(0, "is not a reduction op code");
  const int64_t outer = a.size(3), r = a.size(4), inner = a.size(5);
  if (r == 0) a.fail(4, "must be positive");
  kernels().reduce(static_cast<int>(op), a.f32(1, outer * r * inner), a.f32(2, outer * inner), outer, r, inner);
  return info.Env().Undefined();
}

// softmax(x, out, rows, cols) / softmaxGrad(y, dy, out, rows, cols)
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  Args a(info, "softmax");
  const int64_t rows = a.size(2), cols = a.size(3);
  kernels().softmax(a.f32(0, rows * cols), a.f32(1, rows * cols), rows, cols);
  return info.Env().Undefined();
}

Napi::Value SoftmaxGrad(const Napi::CallbackInfo& info) {
  Args a(info, "softmaxGrad");
  const int64_t rows = a.size(3), cols = a.size(4);
  const int64_t n = rows * cols;
  kernels().softmax_grad(a.f32(0, n), a.f32(1, n), a.f32(2, n), rows, cols);
  return info.Env().Undefined();
}

// transpose(x, out, shape, perm): any typed arrays of the same element size.
Napi::Value Transpose(const Napi::CallbackInfo& info) {
  Args a(info, "transpose");
  std::vector<int64_t> shape = a.ints(2), perm64 = a.ints(3);
  const int rank = static_cast<int>(shape.size());
  if (rank > 15 || perm64.size() != shape.size()) a.fail(3, "must be a permutation of the shape's axes");
  std::vector<int32_t> perm(rank);
  std::vector<bool> seen(rank, false);
  for (int i = 0; i < rank; ++i) {
    if (perm64[i] < 0 || perm64[i] >= rank || seen[perm64[i]]) a.fail(3, "must be a permutation of the shape's axes");
    seen[perm64[i]] = true;
    perm[i] = static_cast<int32_t>(perm64[i]);
  }
  int ex, eo;
  int64_t lx, lo;
  const void* x = a.raw(0, &ex, &lx);
  void* out = a.raw(1, &eo, &lo);
  const int64_t total = product(shape);
  if (ex != eo) a.fail(1, "must have the input's element type");
  if (lx < total || lo < total) a.fail(0, "is smaller than the shape");
  if (total == 0) return info.Env().Undefined();
  lmp::transpose(x, out, ex, rank, shape.data(), perm.data());
  return info.Env().Undefined();
}

// gather(x, idx: Int32Array, out, outer, dim, n, inner) → -1 or the position of a bad index
Napi::Value Gather(const Napi::CallbackInfo& info) {
  Args a(info, "gather");
  const int64_t outer = a.size(3), dim = a.size(4), n = a.size(5), inner = a.size(6);
  int ex, eo;
  int64_t lx, lo;
  const void* x = a.raw(0, &ex, &lx);
  void* out = a.raw(2, &eo, &lo);
  if (ex != eo) a.fail(2, "must have the input's element type");
  if (lx < outer * dim * inner) a.fail(0, "is smaller than outer·dim·inner");
  if (lo < outer * n * inner) a.fail(2, "is smaller than outer·n·inner");
  const int32_t* idx = a.i32(1, n);
  return Napi::Number::New(info.Env(),
                           static_cast<double>(lmp::gather(x, idx, out, ex, outer, dim, n, inner)));
}

// scatterAdd(x, ids: Int32Array, out (zeroed), n, inner, segments)
Napi::Value ScatterAdd(const Napi::CallbackInfo& info) {
  Args a(info, "scatterAdd");
  const int64_t n = a.size(3), inner = a.size(4), segments = a.size(5);
  lmp::scatter_add(a.f32(0, n * inner), a.i32(1, n), a.f32(2, segments * inner), n, inner, segments);
  return info.Env().Undefined();
}

// slice(x, out, shape, begin, size)
Napi::Value Slice(const Napi::CallbackInfo& info) {
  Args a(info, "slice");
  std::vector<int64_t> shape = a.ints(2), begin = a.ints(3), size = a.ints(4);
  const size_t rank = shape.size();
  if (rank > 15 || begin.size() != rank || size.size() != rank) a.fail(3, "begin and size must match the rank");
  for (size_t d = 0; d < rank; ++d)
    if (begin[d] < 0 || size[d] < 0 || begin[d] + size[d] > shape[d]) a.fail(3, "slice is outside the shape");
  int ex, eo;
  int64_t lx, lo;
  const void* x = a.raw(0, &ex, &lx);
  void* out = a.raw(1, &eo, &lo);
  if (ex != eo) a.fail(1, "must have the input's element type");
  if (lx < product(shape)) a.fail(0, "is smaller than the shape");
  if (lo < product(size)) a.fail(1, "is smaller than the slice");
  if (product(size) == 0) return info.Env().Undefined();
  lmp::slice(x, out, ex, static_cast<int>(rank), shape.data(), begin.data(), size.data());
  return info.Env().Undefined();
}

// concat(inputs: TypedArray[], widths, out, outer)
Napi::Value Concat(const Napi::CallbackInfo& info) {
  Args a(info, "concat");
  if (info.Length() < 1 || !info[0].IsArray()) a.fail(0, "must be an array of typed arrays");
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<int64_t> widths = a.ints(1);
  const int64_t outer = a.size(3);
  if (widths.size() != list.Length()) a.fail(1, "must have one width per input");
  int eo;
  int64_t lo;
  void* out = a.raw(2, &eo, &lo);
  std::vector<const void*> ptrs(list.Length());
  int64_t total = 0;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value v = list.Get(i);
    if (!v.IsTypedArray()) a.fail(0, "must be an array of typed arrays");
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    if (static_cast<int>(t.ElementSize()) != eo) a.fail(0, "inputs must have the output's element type");
    if (widths[i] < 0 || static_cast<int64_t>(t.ElementLength()) < outer * widths[i]) a.fail(0, "input too small");
    ptrs[i] = static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
    total += widths[i];
  }
  if (lo < outer * total) a.fail(2, "is smaller than the result");
  lmp::concat(ptrs.data(), widths.data(), static_cast<int>(ptrs.size()), out, eo, outer);
  return info.Env().Undefined();
}

// ceForward(logits, targets, lse, rows, vocab) → Σ loss (double); throws on a bad target
Napi::Value CeForward(const Napi::CallbackInfo& info) {
  Args a(info, "ceForward");
  const int64_t rows = a.size(3), vocab = a.size(4);
  double total = 0;
  const int32_t* t = a.i32(1, rows);
  int64_t bad = kernels().ce_forward(a.f32(0, rows * vocab), t, rows, vocab, a.f32(2, rows), &total);
  if (bad >= 0) {
    throw Napi::RangeError::New(info.Env(), "crossEntropy: target " + std::to_string(t[bad]) + " at position " +
                                                std::to_string(bad) + " is outside the vocabulary [0, " +
                                                std::to_string(vocab) + ")");
  }
  return Napi::Number::New(info.Env(), total);
}

// ceBackward(logits, targets, lse, scale, dlogits, rows, vocab)
Napi::Value CeBackward(const Napi::CallbackInfo& info) {
  Args a(info, "ceBackward");
  const int64_t rows = a.size(5), vocab = a.size(6);
  const int32_t* t = a.i32(1, rows);
  for (int64_t r = 0; r < rows; ++r)
    if (t[r] < 0 || t[r] >= vocab) a.fail(1, "has a target outside the vocabulary");
  kernels().ce_backward(a.f32(0, rows * vocab), t, a.f32(2, rows), static_cast<float>(a.num(3)),
                        a.f32(4, rows * vocab), rows, vocab);
  return info.Env().Undefined();
}

// rmsnormForward(x, w, eps, y, inv, rows, d)
Napi::Value RmsnormForward(const Napi::CallbackInfo& info) {
  Args a(info, "rmsnormForward");
  const int64_t rows = a.size(5), d = a.size(6);
  kernels().rmsnorm_forward(a.f32(0, rows * d), a.f32(1, d), static_cast<float>(a.num(2)), a.f32(3, rows * d),
                            a.f32(4, rows), rows, d);
  return info.Env().Undefined();
}

// rmsnormBackward(x, w, inv, dy, dx, dw, rows, d)
Napi::Value RmsnormBackward(const Napi::CallbackInfo& info) {
  Args a(info, "rmsnormBackward");
  const int64_t rows = a.size(6), d = a.size(7);
  kernels().rmsnorm_backward(a.f32(0, rows * d), a.f32(1, d), a.f32(2, rows), a.f32(3, rows * d),
                             a.f32(4, rows * d), a.f32(5, d), rows, d);
  return info.Env().Undefined();
}

// rope(x, cos, sin, out, outer, t, d, backward)
Napi::Value Rope(const Napi::CallbackInfo& info) {
  Args a(info, "rope");
  const int64_t outer = a.size(4), t = a.size(5), d = a.size(6);
  if (d % 2 != 0) a.fail(6, "must be even");
  const int64_t n = outer * t * d;
  kernels().rope(a.f32(0, n), a.f32(1, t * d), a.f32(2, t * d), a.f32(3, n), outer, t, d, a.flag(7) ? 1 : 0);
  return info.Env().Undefined();
}

// actForward(kind, x, y) / actBackward(kind, x, dy, dx)
Napi::Value ActForward(const Napi::CallbackInfo& info) {
  Args a(info, "actForward");
  const int64_t kind = a.integer(0);
  if (kind != lmp::kActSilu && kind != lmp::kActGelu) a.fail(0, "is not an activation code");
  int e;
  int64_t n;
  a.raw(1, &e, &n);
  kernels().act_forward(static_cast<int>(kind), a.f32(1, n), a.f32(2, n), n);
  return info.Env().Undefined();
}

Napi::Value ActBackward(const Napi::CallbackInfo& info) {
  Args a(info, "actBackward");
  const int64_t kind = a.integer(0);
  if (kind != lmp::kActSilu && kind != lmp::kActGelu) a.fail(0, "is not an activation code");
  int e;
  int64_t n;
  a.raw(1, &e, &n);
  kernels().act_backward(static_cast<int>(kind), a.f32(1, n), a.f32(2, n), a.f32(3, n), n);
  return info.Env().Undefined();
}

// swigluForward(a, b, out) / swigluBackward(a, b, dy, da, db)
Napi::Value SwigluForward(const Napi::CallbackInfo& info) {
  Args a(info, "swigluForward");
  int e;
  int64_t n;
  a.raw(0, &e, &n);
  kernels().swiglu_forward(a.f32(0, n), a.f32(1, n), a.f32(2, n), n);
  return info.Env().Undefined();
}

Napi::Value SwigluBackward(const Napi::CallbackInfo& info) {
  Args a(info, "swigluBackward");
  int e;
  int64_t n;
  a.raw(0, &e, &n);
  kernels().swiglu_backward(a.f32(0, n), a.f32(1, n), a.f32(2, n), a.f32(3, n), a.f32(4, n), n);
  return info.Env().Undefined();
}

// attentionForward(q, k, v, o, lse, bh, tq, tk, dh, dv, scale, causalOffset)
Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  Args a(info, "attentionForward");
  const int64_t bh = a.size(5), tq = a.size(6), tk = a.size(7), dh = a.size(8), dv = a.size(9);
  const int64_t off = a.integer(11);
  if (tk == 0) a.fail(7, "must be positive");
  kernels().attention_forward(a.f32(0, bh * tq * dh), a.f32(1, bh * tk * dh), a.f32(2, bh * tk * dv),
                              a.f32(3, bh * tq * dv), a.f32(4, bh * tq), bh, tq, tk, dh, dv,
                              static_cast<float>(a.num(10)), off < 0 ? -1 : off);
  return info.Env().Undefined();
}

// attentionBackward(q, k, v, o, lse, dout, dq, dk, dv, bh, tq, tk, dh, dv, scale, causalOffset)
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  Args a(info, "attentionBackward");
  const int64_t bh = a.size(9), tq = a.size(10), tk = a.size(11), dh = a.size(12), dv = a.size(13);
  const int64_t off = a.integer(15);
  if (tk == 0) a.fail(11, "must be positive");
  kernels().attention_backward(a.f32(0, bh * tq * dh), a.f32(1, bh * tk * dh), a.f32(2, bh * tk * dv),
                               a.f32(3, bh * tq * dv), a.f32(4, bh * tq), a.f32(5, bh * tq * dv),
                               a.f32(6, bh * tq * dh), a.f32(7, bh * tk * dh), a.f32(8, bh * tk * dv), bh, tq, tk,
                               dh, dv, static_cast<float>(a.num(14)), off < 0 ? -1 : off);
  return info.Env().Undefined();
}

// adamw(p, g, m, v, p2, m2, v2, alpha, beta1, beta2, eps, decay): see kernels.inc
Napi::Value Adamw(const Napi::CallbackInfo& info) {
  Args a(info, "adamw");
  int e;
  int64_t n;
  a.raw(0, &e, &n);
  kernels().adamw(a.f32(0, n), a.f32(1, n), a.f32(2, n), a.f32(3, n), a.f32(4, n), a.f32(5, n), a.f32(6, n), n,
                  static_cast<float>(a.num(7)), static_cast<float>(a.num(8)), static_cast<float>(a.num(9)),
                  static_cast<float>(a.num(10)), static_cast<float>(a.num(11)));
  return info.Env().Undefined();
}

// keepFreedMemory(): makes glibc keep freed memory mapped for reuse (see
// docs/ARCHITECTURE.md, "Memory reuse"). Every tensor the cpu-class backend
// makes is a fresh calloc'd typed array; by default glibc serves large ones
// with mmap and unmaps them on free, so each training step page-faults its
// whole activation footprint back in (~350k faults, 15% of a TinyStories
// step). With a fixed mmap threshold (the largest glibc allows, 32 MiB) and
// no trimming, the heap keeps the pages and calloc only re-zeroes them.
// Returns false where this is not glibc (nothing changed).
Napi::Value KeepFreedMemory(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__)
  const bool ok = mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024) == 1 && mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1;
  return Napi::Boolean::New(info.Env(), ok);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  lmp::gemm_init();
  kernels();
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("isas", Napi::Function::New(env, Isas));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa));
  exports.Set("keepFreedMemory", Napi::Function::New(env, KeepFreedMemory));
  exports.Set("matmul", Napi::Function::New(env, Matmul));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("compare", Napi::Function::New(env, Compare));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("reduce", Napi::Function::New(env, Reduce));
  exports.Set("softmax", Napi::Function::New(env, Softmax));
  exports.Set("softmaxGrad", Napi::Function::New(env, SoftmaxGrad));
  exports.Set("transpose", Napi::Function::New(env, Transpose));
  exports.Set("gather", Napi::Function::New(env, Gather));
  exports.Set("scatterAdd", Napi::Function::New(env, ScatterAdd));
  exports.Set("slice", Napi::Function::New(env, Slice));
  exports.Set("concat", Napi::Function::New(env, Concat));
  exports.Set("ceForward", Napi::Function::New(env, CeForward));
  exports.Set("ceBackward", Napi::Function::New(env, CeBackward));
  exports.Set("rmsnormForward", Napi::Function::New(env, RmsnormForward));
  exports.Set("rmsnormBackward", Napi::Function::New(env, RmsnormBackward));
  exports.Set("rope", Napi::Function::New(env, Rope));
  exports.Set("actForward", Napi::Function::New(env, ActForward));
  exports.Set("actBackward", Napi::Function::New(env, ActBackward));
  exports.Set("swigluForward", Napi::Function::New(env, SwigluForward));
  exports.Set("swigluBackward", Napi::Function::New(env, SwigluBackward));
  exports.Set("attentionForward", Napi::Function::New(env, AttentionForward));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward));
  exports.Set("adamw", Napi::Function::New(env, Adamw));
  lmp::tok::register_tokenizer(env, exports);
  lmp::register_formats(env, exports);
  lmp::register_map_file(env, exports);
  lmp::register_precision(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(lmpipe_native, Init)
