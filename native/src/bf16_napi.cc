// Node-API surface of the matmul precision (gemm.h, gemm_bf16.cc):
// setPrecision, precisionInfo, resetPrecisionStats, setOnednnBlocked and
// bf16Round. Wrapped by src/backends/native/precision.ts.
#include <napi.h>

#include <string>

#include "gemm.h"

namespace lmp {
namespace {

[[noreturn]] void fail(Napi::Env env, const char* fn, const std::string& what) {
  throw Napi::TypeError::New(env, std::string("lmpipe native ") + fn + ": " + what);
}

const char* precision_name(Precision p) { return p == Precision::kBf16 ? "bf16" : "fp32"; }

// setPrecision('fp32' | 'bf16') → the precision now active ('fp32' when bf16 is unavailable).
Napi::Value SetPrecision(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) fail(env, "setPrecision", "argument 0 must be \"fp32\" or \"bf16\"");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  Precision want;
  if (name == "fp32") want = Precision::kFp32;
  else if (name == "bf16") want = Precision::kBf16;
  else fail(env, "setPrecision", "argument 0 must be \"fp32\" or \"bf16\", not \"" + name + "\"");
  return Napi::String::New(env, precision_name(set_precision(want)));
}

Napi::Value PrecisionInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Bf16Status st = bf16_status();
  Napi::Object o = Napi::Object::New(env);
  o.Set("precision", precision_name(precision()));
  o.Set("available", st.available);
  o.Set("reason", st.available ? env.Null() : Napi::String::New(env, st.reason));
  o.Set("blocked", st.blocked);
  o.Set("headers", st.headers);
  o.Set("isa", st.isa.empty() ? env.Null() : Napi::String::New(env, st.isa));
  o.Set("hardwareBf16", st.hardware_bf16);
  o.Set("probeImpl", st.probe_impl.empty() ? env.Null() : Napi::String::New(env, st.probe_impl));
  Napi::Array impls = Napi::Array::New(env, st.impls.size());
  for (size_t i = 0; i < st.impls.size(); ++i) impls.Set(static_cast<uint32_t>(i), st.impls[i]);
  o.Set("impls", impls);
  o.Set("version", st.version.empty() ? env.Null() : Napi::String::New(env, st.version));
  o.Set("runtime", st.runtime.empty() ? env.Null() : Napi::String::New(env, st.runtime));
  o.Set("library", st.library.empty() ? env.Null() : Napi::String::New(env, st.library));
  o.Set("primitives", static_cast<double>(st.primitives));
  o.Set("convertIsa", bf16_convert_variant());
  Napi::Array variants = Napi::Array::New(env);
  uint32_t i = 0;
  for (const std::string& v : bf16_convert_variants()) variants.Set(i++, v);
  o.Set("convertIsas", variants);
  Napi::Object stats = Napi::Object::New(env);
  stats.Set("calls", static_cast<double>(st.calls));
  stats.Set("fallbacks", static_cast<double>(st.fallbacks));
  stats.Set("lastError", st.last_error.empty() ? env.Null() : Napi::String::New(env, st.last_error));
  stats.Set("executions", static_cast<double>(st.executions));
  stats.Set("converted", static_cast<double>(st.converted));
  stats.Set("convertSeconds", st.convert_s);
  stats.Set("copySeconds", st.copy_s);
  stats.Set("executeSeconds", st.execute_s);
  stats.Set("wallSeconds", st.wall_s);
  stats.Set("gflop", st.gflop);
  o.Set("stats", stats);
  return o;
}

Napi::Value ResetPrecisionStats(const Napi::CallbackInfo& info) {
  reset_bf16_stats();
  return info.Env().Undefined();
}

// setOnednnBlocked(blocked) → blocked: a test hook that makes the bf16 path
// behave as if oneDNN were missing (and switches an active bf16 back to fp32).
Napi::Value SetOnednnBlocked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBoolean()) fail(env, "setOnednnBlocked", "argument 0 must be a boolean");
  const bool blocked = info[0].As<Napi::Boolean>().Value();
  set_bf16_blocked(blocked);
  return Napi::Boolean::New(env, blocked);
}

// bf16Round(x: Float32Array, out: Float32Array, variant?) → the variant used:
// out[i] = float(bf16(x[i])) with the bf16 path's conversion.
Napi::Value Bf16Round(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto f32 = [&](size_t i) -> Napi::TypedArrayOf<float> {
    if (i >= info.Length() || !info[i].IsTypedArray() ||
        info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      fail(env, "bf16Round", "argument " + std::to_string(i) + " must be a Float32Array");
    return info[i].As<Napi::TypedArrayOf<float>>();
  };
  Napi::TypedArrayOf<float> x = f32(0), out = f32(1);
  if (out.ElementLength() < x.ElementLength()) fail(env, "bf16Round", "argument 1 is smaller than argument 0");
  std::string variant = bf16_convert_variant();
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    if (!info[2].IsString()) fail(env, "bf16Round", "argument 2 must be a string");
    variant = info[2].As<Napi::String>().Utf8Value();
  }
  if (!bf16_round(x.Data(), out.Data(), static_cast<int64_t>(x.ElementLength()), variant.c_str()))
    fail(env, "bf16Round", "\"" + variant + "\" is not a conversion variant this CPU runs");
  return Napi::String::New(env, variant);
}

}  // namespace

void register_precision(Napi::Env env, Napi::Object exports) {
  exports.Set("setPrecision", Napi::Function::New(env, SetPrecision));
  exports.Set("precisionInfo", Napi::Function::New(env, PrecisionInfo));
  exports.Set("resetPrecisionStats", Napi::Function::New(env, ResetPrecisionStats));
  exports.Set("setOnednnBlocked", Napi::Function::New(env, SetOnednnBlocked));
  exports.Set("bf16Round", Napi::Function::New(env, Bf16Round));
}

}  // namespace lmp
