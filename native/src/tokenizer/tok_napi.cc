// Node-API surface of the tokenizer core (registered by addon.cc through
// `register_tokenizer`). Bytes come in as Uint8Arrays, results go out as
// typed arrays; encoders and counters (and the tallies of tok_tally.cc) are
// numbered handles owned by the calling thread (each worker thread has its
// own), released explicitly. Every argument is checked: a wrong type, a
// released or unknown handle, or a call before the class table is set
// throws a JS error instead of crashing.
#include <napi.h>

#include <cmath>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "../napi_args.h"
#include "tok_core.h"

namespace lmp {
namespace tok {

// A count table's entries as {bytes, lens, counts} typed arrays, in order of
// first occurrence (tok_tally.cc; tokCount and tokTallyTake both return them).
Napi::Object count_table_arrays(Napi::Env env, const CountTable& t);

namespace {

thread_local std::vector<std::unique_ptr<Encoder>> t_encoders;
thread_local std::vector<std::unique_ptr<Counter>> t_counters;

// The tokenizer's arguments (napi_args.h) and its handles, owned by the calling thread.
class Args : public NapiArgs {
 public:
  using NapiArgs::NapiArgs;
  Encoder* encoder(size_t i) const {
    const size_t h = index(i);
    if (h == 0 || h > t_encoders.size()) fail(i, "is not an encoder handle of this thread");
    Encoder* e = t_encoders[h - 1].get();
    if (e == nullptr) error("this encoder has been released");
    return e;
  }
  Counter* counter(size_t i) const {
    const size_t h = index(i);
    if (h == 0 || h > t_counters.size()) fail(i, "is not a counter handle of this thread");
    Counter* c = t_counters[h - 1].get();
    if (c == nullptr) error("this counter has been released");
    return c;
  }
  void need_classes() const {
    if (!classes_ready()) error("the character class table is not set (call tokSetClasses first)");
  }
};

// Concatenated special-token bytes and lengths: checks they agree.
void check_specials(const Args& a, size_t bytes_len, const int32_t* lens, size_t n, size_t arg) {
  size_t total = 0;
  for (size_t t = 0; t < n; t++) {
    if (lens[t] <= 0) a.fail(arg, "holds an empty special token");
    total += static_cast<size_t>(lens[t]);
  }
  if (total != bytes_len) a.fail(arg, "does not add up to the special-token bytes");
}

// tokSetClasses(triples: Uint32Array): (start, end exclusive, class) runs; later runs win.
Napi::Value SetClasses(const Napi::CallbackInfo& info) {
  Args a(info, "tokSetClasses");
  size_t n;
  const uint32_t* t = a.u32(0, &n);
  if (n % 3 != 0) a.fail(0, "must hold (start, end, class) triples");
  if (!set_classes(t, n / 3)) a.fail(0, "holds a run outside 0..0x110000 or a class outside 1..4");
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Value HasClasses(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), classes_ready()); }

// tokClassOf(cps: Uint32Array, out: Uint8Array): the class of each code point (tests).
Napi::Value ClassOf(const Napi::CallbackInfo& info) {
  Args a(info, "tokClassOf");
  a.need_classes();
  size_t n, m;
  const uint32_t* cps = a.u32(0, &n);
  uint8_t* out = const_cast<uint8_t*>(a.u8(1, &m));
  if (m < n) a.fail(1, "is shorter than argument 0");
  for (size_t k = 0; k < n; k++) out[k] = cps[k] <= kInvalidCp ? g_class[cps[k]] : 0;
  return info.Env().Undefined();
}

Napi::Value Isas(const Napi::CallbackInfo& info) {
  Args a(info, "tokIsas");
  a.need_classes();
  std::vector<const IsaFns*> v = available_isas();
  Napi::Array out = Napi::Array::New(info.Env(), v.size());
  for (size_t k = 0; k < v.size(); k++) out.Set(static_cast<uint32_t>(k), v[k]->name);
  return out;
}

Napi::Value Isa(const Napi::CallbackInfo& info) {
  Args a(info, "tokIsa");
  a.need_classes();
  return Napi::String::New(info.Env(), active_isa().name);
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Args a(info, "tokSetIsa");
  a.need_classes();
  if (info.Length() < 1 || !info[0].IsString()) a.fail(0, "must be a string");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  if (!select_isa(name.c_str())) a.fail(0, "\"" + name + "\" is not a tokenizer path this CPU runs");
  return Napi::String::New(info.Env(), active_isa().name);
}

// tokEncoderCreate(vocabSize, byteToId, merges, joinable, specialBytes, specialLens, specialIds, cacheLog2) -> handle
Napi::Value EncoderCreate(const Napi::CallbackInfo& info) {
  Args a(info, "tokEncoderCreate");
  a.need_classes();
  const size_t vocab = a.index(0, 2147483647.0);
  size_t n_bti, n_m, n_j, n_sb, n_sl, n_si;
  const int32_t* bti = a.i32(1, &n_bti);
  if (n_bti != 256) a.fail(1, "must hold 256 entries");
  const int32_t* merges = a.i32(2, &n_m);
  if (n_m % 3 != 0) a.fail(2, "must hold (left, right, merged) triples");
  const uint8_t* joinable = a.u8(3, &n_j);
  if (n_j != 65536) a.fail(3, "must hold 65536 entries");
  const uint8_t* sb = a.u8(4, &n_sb);
  const int32_t* sl = a.i32(5, &n_sl);
  const int32_t* si = a.i32(6, &n_si);
  if (n_si != n_sl) a.fail(6, "must have one id per special token");
  check_specials(a, n_sb, sl, n_sl, 5);
  const size_t cache_log2 = a.index(7, 26);
  if (cache_log2 < 4) a.fail(7, "must be at least 4");
  std::unique_ptr<Encoder> e(new Encoder());
  std::string err;
  try {
    err = e->build(static_cast<int32_t>(vocab), bti, merges, n_m / 3, joinable, sb, sl, si, n_sl,
                   static_cast<int>(cache_log2));
  } catch (const std::bad_alloc&) {
    err = "out of memory for the encoder's tables";
  }
  if (!err.empty()) a.error(err);
  t_encoders.push_back(std::move(e));
  return Napi::Number::New(info.Env(), static_cast<double>(t_encoders.size()));
}

// An id buffer larger than this (32 MB) is freed after use; smaller ones are kept
// for the next unit (a fresh buffer costs page faults: ~13 us per 4 kB on some VMs).
constexpr size_t kKeepIds = size_t{1} << 23;

// tokEncode(handle, bytes, out: ArrayBuffer | null, narrow: boolean) -> n
// Writes the n ids into `out` (uint16 when narrow, else uint32) when it holds
// them and returns n; otherwise returns -(n + 1) and keeps the ids for tokTakeIds.
Napi::Value Encode(const Napi::CallbackInfo& info) {
  Args a(info, "tokEncode");
  Encoder* e = a.encoder(0);
  size_t n;
  const uint8_t* b = a.u8(1, &n);
  Napi::ArrayBuffer out_buf;
  bool have_out = false;
  if (info.Length() > 2 && info[2].IsArrayBuffer()) {
    out_buf = info[2].As<Napi::ArrayBuffer>();
    have_out = true;
  } else if (info.Length() > 2 && !info[2].IsNull() && !info[2].IsUndefined()) {
    a.fail(2, "must be an ArrayBuffer or null");
  }
  if (info.Length() < 4 || !info[3].IsBoolean()) a.fail(3, "must be a boolean");
  const bool narrow = info[3].As<Napi::Boolean>().Value();
  e->missing_byte = -1;
  e->out_len = 0;
  long k;
  try {
    k = active_isa().encode(e, b, n);
  } catch (const std::bad_alloc&) {
    k = -2;  // a scratch vector of a huge pretoken could not grow
  }
  if (k == -2) a.error("out of memory for the ids");
  if (k < 0) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%02x", e->missing_byte & 0xff);
    Napi::Error err = Napi::Error::New(
        info.Env(), std::string("byte 0x") + hex +
                        " has no token in the vocabulary, so this text cannot be encoded (a byte-level BPE vocabulary needs all 256 single bytes)");
    err.Set("code", Napi::String::New(info.Env(), "LMPIPE_MISSING_BYTE"));
    throw err;
  }
  const size_t ids = static_cast<size_t>(k);
  e->out_len = ids;
  const size_t item = narrow ? 2 : 4;
  if (have_out && out_buf.ByteLength() >= ids * item) {
    const uint32_t* src = e->obuf;
    if (narrow) {
      uint16_t* dst = static_cast<uint16_t*>(out_buf.Data());
      for (size_t q = 0; q < ids; q++) dst[q] = static_cast<uint16_t>(src[q]);
    } else if (ids) {
      std::memcpy(out_buf.Data(), src, ids * 4);
    }
    e->out_len = 0;
    trim_out(e, kKeepIds);
    return Napi::Number::New(info.Env(), static_cast<double>(ids));
  }
  return Napi::Number::New(info.Env(), -static_cast<double>(ids) - 1);
}

// tokTakeIds(handle, dst: Uint16Array | Uint32Array): copies the last encode's ids.
Napi::Value TakeIds(const Napi::CallbackInfo& info) {
  Args a(info, "tokTakeIds");
  Encoder* e = a.encoder(0);
  if (info.Length() < 2 || !info[1].IsTypedArray()) a.fail(1, "must be a Uint16Array or Uint32Array");
  Napi::TypedArray t = info[1].As<Napi::TypedArray>();
  const size_t ids = e->out_len;
  if (t.ElementLength() < ids) a.fail(1, "is too short for the ids");
  void* p = static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
  const uint32_t* src = e->obuf;
  if (t.TypedArrayType() == napi_uint16_array) {
    uint16_t* dst = static_cast<uint16_t*>(p);
    for (size_t q = 0; q < ids; q++) dst[q] = static_cast<uint16_t>(src[q]);
  } else if (t.TypedArrayType() == napi_uint32_array) {
    if (ids) std::memcpy(p, src, ids * 4);
  } else {
    a.fail(1, "must be a Uint16Array or Uint32Array");
  }
  e->out_len = 0;
  trim_out(e, kKeepIds);
  return info.Env().Undefined();
}

Napi::Value EncoderInfo(const Napi::CallbackInfo& info) {
  Args a(info, "tokEncoderInfo");
  Encoder* e = a.encoder(0);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("invalidUtf8", static_cast<double>(e->invalid));
  o.Set("cacheResets", static_cast<double>(e->cache.resets));
  o.Set("cacheEntries", static_cast<double>(e->cache.entries));
  o.Set("cacheSlots", static_cast<double>(e->cache.mask + 1));
  return o;
}

Napi::Value EncoderRelease(const Napi::CallbackInfo& info) {
  Args a(info, "tokEncoderRelease");
  const size_t h = a.index(0, 9007199254740991.0);
  if (h == 0 || h > t_encoders.size()) a.fail(0, "is not an encoder handle of this thread");
  t_encoders[h - 1].reset();
  return info.Env().Undefined();
}

// tokCounterCreate(specialBytes, specialLens) -> handle
Napi::Value CounterCreate(const Napi::CallbackInfo& info) {
  Args a(info, "tokCounterCreate");
  a.need_classes();
  size_t n_sb, n_sl;
  const uint8_t* sb = a.u8(0, &n_sb);
  const int32_t* sl = a.i32(1, &n_sl);
  check_specials(a, n_sb, sl, n_sl, 1);
  std::unique_ptr<Counter> c(new Counter());
  if (!c->specials.build(sb, sl, n_sl)) a.error("a special token cannot be the empty string");
  c->table.init(16);
  t_counters.push_back(std::move(c));
  return Napi::Number::New(info.Env(), static_cast<double>(t_counters.size()));
}

// tokCount(handle, bytes, length) -> {bytes, lens, counts, stats}: the unique
// pretokens of bytes[0, length) with their counts (in order of first
// occurrence), and
// [bytes, pretokens, pieces, specials, invalidUtf8].
Napi::Value Count(const Napi::CallbackInfo& info) {
  Args a(info, "tokCount");
  Counter* c = a.counter(0);
  size_t n;
  const uint8_t* b = a.u8(1, &n);
  const size_t length = a.index(2, 9007199254740991.0);
  if (length > n) a.fail(2, "is past the end of the bytes");
  CountTable& t = c->table;
  t.clear();
  CountStats st;
  try {
    active_isa().count(c, b, length, &st);
  } catch (const std::bad_alloc&) {
    t.init(16);
    a.error("out of memory for the pretoken table");
  }
  Napi::Env env = info.Env();
  Napi::Object out = count_table_arrays(env, t);
  // A unit with a huge vocabulary of pretokens grew the table: give the memory back.
  if (t.index.size() > (size_t{1} << 21)) t.init(16);
  Napi::Float64Array stats = Napi::Float64Array::New(env, 5);
  stats[0] = static_cast<double>(st.bytes);
  stats[1] = static_cast<double>(st.pretokens);
  stats[2] = static_cast<double>(st.pieces);
  stats[3] = static_cast<double>(st.specials);
  stats[4] = static_cast<double>(st.invalid);
  out.Set("stats", stats);
  return out;
}

Napi::Value CounterRelease(const Napi::CallbackInfo& info) {
  Args a(info, "tokCounterRelease");
  const size_t h = a.index(0, 9007199254740991.0);
  if (h == 0 || h > t_counters.size()) a.fail(0, "is not a counter handle of this thread");
  t_counters[h - 1].reset();
  return info.Env().Undefined();
}

// tokScan(bytes, ends: Uint32Array) -> [count, invalid]: pretoken ends of one
// piece without special tokens (tests compare it with the TS scanner).
Napi::Value Scan(const Napi::CallbackInfo& info) {
  Args a(info, "tokScan");
  a.need_classes();
  size_t n, cap;
  const uint8_t* b = a.u8(0, &n);
  uint32_t* ends = const_cast<uint32_t*>(a.u32(1, &cap));
  uint64_t invalid = 0;
  const size_t k = active_isa().scan(b, n, ends, cap, &invalid);
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(uint32_t{0}, static_cast<double>(k));
  out.Set(uint32_t{1}, static_cast<double>(invalid));
  return out;
}

}  // namespace

// The pretoken tally of BPE training (tok_tally.cc).
void register_tally(Napi::Env env, Napi::Object exports);
// Reading vocab.json and merges.txt (tok_files.cc).
void register_files(Napi::Env env, Napi::Object exports);

void register_tokenizer(Napi::Env env, Napi::Object exports) {
  exports.Set("tokSetClasses", Napi::Function::New(env, SetClasses));
  exports.Set("tokHasClasses", Napi::Function::New(env, HasClasses));
  exports.Set("tokClassOf", Napi::Function::New(env, ClassOf));
  exports.Set("tokIsas", Napi::Function::New(env, Isas));
  exports.Set("tokIsa", Napi::Function::New(env, Isa));
  exports.Set("tokSetIsa", Napi::Function::New(env, SetIsa));
  exports.Set("tokEncoderCreate", Napi::Function::New(env, EncoderCreate));
  exports.Set("tokEncode", Napi::Function::New(env, Encode));
  exports.Set("tokTakeIds", Napi::Function::New(env, TakeIds));
  exports.Set("tokEncoderInfo", Napi::Function::New(env, EncoderInfo));
  exports.Set("tokEncoderRelease", Napi::Function::New(env, EncoderRelease));
  exports.Set("tokCounterCreate", Napi::Function::New(env, CounterCreate));
  exports.Set("tokCount", Napi::Function::New(env, Count));
  exports.Set("tokCounterRelease", Napi::Function::New(env, CounterRelease));
  exports.Set("tokScan", Napi::Function::New(env, Scan));
  register_tally(env, exports);
  register_files(env, exports);
}

}  // namespace tok
}  // namespace lmp
