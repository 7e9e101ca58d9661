// The compute kernels, compiled twice from kernels.inc: once for the
// baseline x86-64 instruction set (kernels_base.cc) and once with AVX2+FMA
// enabled (kernels_avx2.cc). `kernels()` picks a table at first use by
// asking the CPU (__builtin_cpu_supports), so the shipped binary runs on any
// x86-64 and uses AVX2 where it exists; `select_isa` switches explicitly.
//
// Rule for kernels.inc: no standard-library templates (std::vector,
// std::function, std::min, ...). A template instantiated in both files would
// be merged by the linker into one copy, possibly the AVX2 one, which would
// then also run on CPUs without AVX2. Helpers there are `static`.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lmp {

// Binary op codes (float32 → float32).
enum BinaryOp : int { kAdd = 0, kSub, kMul, kDiv, kMax, kMin, kPow, kSqDiff };
// Comparison op codes (float32 → bool as uint8).
enum CompareOp : int { kEq = 0, kNe, kLt, kLe, kGt, kGe };
// Unary op codes (float32 → float32); alpha is the op's attribute.
enum UnaryOp : int {
  kExp = 0, kLog, kSqrt, kRsqrt, kNeg, kSigmoid, kTanh, kSquare, kAbs, kRelu, kErf, kReciprocal,
  kSin, kCos, kLog1p, kSoftplus, kElu, kRelu6, kExpm1, kLeakyRelu, kStep, kSilu, kGelu
};
// Reduction op codes over the middle axis of (outer, r, inner).
enum ReduceOp : int { kSum = 0, kMean, kRMax, kRMin };
// Activations with a fused backward pass.
enum ActKind : int { kActSilu = 0, kActGelu };

#define LMP_KERNEL_LIST(X)                                                                                     \
  X(void, binary, (int op, const float* a, const float* b, float* out, int rank, const int64_t* shape,        \
                   const int64_t* sa, const int64_t* sb))                                                     \
  X(void, compare, (int op, const float* a, const float* b, uint8_t* out, int rank, const int64_t* shape,     \
                    const int64_t* sa, const int64_t* sb))                                                    \
  X(void, unary, (int op, const float* x, float* out, int64_t n, float alpha))                                 \
  X(void, reduce, (int op, const float* x, float* out, int64_t outer, int64_t r, int64_t inner))              \
  X(void, softmax, (const float* x, float* out, int64_t rows, int64_t cols))                                   \
  X(void, softmax_grad, (const float* y, const float* dy, float* out, int64_t rows, int64_t cols))             \
  X(int64_t, ce_forward, (const float* logits, const int32_t* targets, int64_t rows, int64_t vocab, float* lse, \
                          double* total))                                                                      \
  X(void, ce_backward, (const float* logits, const int32_t* targets, const float* lse, float scale,           \
                        float* dlogits, int64_t rows, int64_t vocab))                                          \
  X(void, rmsnorm_forward, (const float* x, const float* w, float eps, float* y, float* inv, int64_t rows,     \
                            int64_t d))                                                                        \
  X(void, rmsnorm_backward, (const float* x, const float* w, const float* inv, const float* dy, float* dx,     \
                             float* dw, int64_t rows, int64_t d))                                              \
  X(void, rope, (const float* x, const float* cos, const float* sin, float* out, int64_t outer, int64_t t,     \
                 int64_t d, int backward))                                                                     \
  X(void, act_forward, (int kind, const float* x, float* y, int64_t n))                                        \
  X(void, act_backward, (int kind, const float* x, const float* dy, float* dx, int64_t n))                     \
  X(void, swiglu_forward, (const float* a, const float* b, float* out, int64_t n))                             \
  X(void, swiglu_backward, (const float* a, const float* b, const float* dy, float* da, float* db, int64_t n)) \
  X(void, attention_forward, (const float* q, const float* k, const float* v, float* o, float* lse,            \
                              int64_t bh, int64_t tq, int64_t tk, int64_t dh, int64_t dv, float scale,         \
                              int64_t causal_offset))                                                          \
  X(void, attention_backward, (const float* q, const float* k, const float* v, const float* o,                \
                               const float* lse, const float* dout, float* dq, float* dk, float* dvv,          \
                               int64_t bh, int64_t tq, int64_t tk, int64_t dh, int64_t dv, float scale,        \
                               int64_t causal_offset))                                                         \
  X(void, adamw, (const float* p, const float* g, const float* m, const float* v, float* p2, float* m2,       \
                  float* v2, int64_t n, float alpha, float beta1, float beta2, float eps, float decay))

struct Kernels {
#define LMP_X(ret, name, args) ret(*name) args;
  LMP_KERNEL_LIST(LMP_X)
#undef LMP_X
  const char* isa;
};

namespace base { Kernels table(); }
namespace avx2 { Kernels table(); }

// The active table: AVX2+FMA when the CPU has both, else baseline, unless
// select_isa chose another.
const Kernels& kernels();

// Names of the two tables (their `isa` field).
inline constexpr char kIsaBaseline[] = "baseline";
inline constexpr char kIsaAvx2[] = "avx2";

// Whether this CPU can run the AVX2+FMA table.
bool cpu_has_avx2();

// Makes the table named `name` ("baseline" or "avx2") the active one, so that
// tests and benchmarks can run every variant this CPU supports; false (and
// nothing changes) for an unknown name or one the CPU cannot run. Call it
// between kernel calls, never while one runs.
bool select_isa(const char* name);

}  // namespace lmp
