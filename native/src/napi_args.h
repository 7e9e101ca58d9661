// Checked access to a native function's JavaScript arguments, shared by
// every binding file (addon.cc, tokenizer/tok_napi.cc, formats/jsonl.cc, ...):
// a wrong type, a short array or an out-of-range number throws a JS
// TypeError "lmpipe native <fn>: argument <i> <what>" instead of reading
// garbage or crashing. A binding with handles of its own derives from it
// (e.g. the tokenizer's encoder and counter handles).
#pragma once
#include <napi.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lmp {

class NapiArgs {
 public:
  NapiArgs(const Napi::CallbackInfo& info, const char* fn) : info_(info), fn_(fn) {}

  // Throws a TypeError about argument i.
  [[noreturn]] void fail(size_t i, const std::string& what) const {
    throw Napi::TypeError::New(info_.Env(), std::string("lmpipe native ") + fn_ + ": argument " + std::to_string(i) + " " + what);
  }
  // Throws an Error about the call as a whole (not one argument's type).
  [[noreturn]] void error(const std::string& what) const {
    throw Napi::Error::New(info_.Env(), std::string("lmpipe native ") + fn_ + ": " + what);
  }

  // Argument i as a typed array of the given type; its element count in *len.
  template <class T>
  T* array(size_t i, napi_typedarray_type type, const char* tname, size_t* len) const {
    if (i >= info_.Length() || !info_[i].IsTypedArray()) fail(i, std::string("must be a ") + tname);
    Napi::TypedArray t = info_[i].As<Napi::TypedArray>();
    if (t.TypedArrayType() != type) fail(i, std::string("must be a ") + tname);
    *len = t.ElementLength();
    return reinterpret_cast<T*>(static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset());
  }
  // The same, with at least `min_len` elements.
  template <class T>
  T* array_min(size_t i, napi_typedarray_type type, const char* tname, int64_t min_len) const {
    size_t len;
    T* p = array<T>(i, type, tname, &len);
    if (static_cast<int64_t>(len) < min_len)
      fail(i, std::string("has ") + std::to_string(len) + " elements, needs " + std::to_string(min_len));
    return p;
  }
  uint8_t* u8(size_t i, size_t* len) const { return array<uint8_t>(i, napi_uint8_array, "Uint8Array", len); }
  int32_t* i32(size_t i, size_t* len) const { return array<int32_t>(i, napi_int32_array, "Int32Array", len); }
  uint32_t* u32(size_t i, size_t* len) const { return array<uint32_t>(i, napi_uint32_array, "Uint32Array", len); }
  double* f64(size_t i, size_t* len) const { return array<double>(i, napi_float64_array, "Float64Array", len); }

  // Any typed array: its data, element size and element count.
  void* raw(size_t i, int* elem, int64_t* length) const {
    if (i >= info_.Length() || !info_[i].IsTypedArray()) fail(i, "must be a typed array");
    Napi::TypedArray t = info_[i].As<Napi::TypedArray>();
    *elem = static_cast<int>(t.ElementSize());
    *length = static_cast<int64_t>(t.ElementLength());
    return static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
  }

  double num(size_t i) const {
    if (i >= info_.Length() || !info_[i].IsNumber()) fail(i, "must be a number");
    return info_[i].As<Napi::Number>().DoubleValue();
  }
  // A non-negative integer no larger than max (JavaScript's safe integers by default).
  size_t index(size_t i, double max = 9007199254740991.0) const {
    const double v = num(i);
    if (!(v >= 0) || v != std::floor(v) || v > max)
      fail(i, "must be an integer in [0, " + std::to_string(static_cast<long long>(max)) + "]");
    return static_cast<size_t>(v);
  }
  // Any safe integer.
  int64_t integer(size_t i) const {
    const double v = num(i);
    if (v != std::floor(v) || std::fabs(v) > 9007199254740991.0) fail(i, "must be an integer");
    return static_cast<int64_t>(v);
  }
  // Argument i's truthiness (it must be given).
  bool flag(size_t i) const {
    if (i >= info_.Length()) fail(i, "is missing");
    return info_[i].ToBoolean().Value();
  }
  // An array of integers (shapes).
  std::vector<int64_t> ints(size_t i) const {
    if (i >= info_.Length() || !info_[i].IsArray()) fail(i, "must be an array of integers");
    Napi::Array a = info_[i].As<Napi::Array>();
    std::vector<int64_t> out(a.Length());
    for (uint32_t j = 0; j < a.Length(); ++j) {
      Napi::Value v = a.Get(j);
      if (!v.IsNumber()) fail(i, "must be an array of integers");
      const double d = v.As<Napi::Number>().DoubleValue();
      if (d != std::floor(d)) fail(i, "must be an array of integers");
      out[j] = static_cast<int64_t>(d);
    }
    return out;
  }

  Napi::Env env() const { return info_.Env(); }
  const Napi::CallbackInfo& info() const { return info_; }

 private:
  const Napi::CallbackInfo& info_;
  const char* fn_;
};

}  // namespace lmp
