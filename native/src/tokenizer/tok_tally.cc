// The pretoken tally of BPE training: adds up the per-unit count tables the
// counters return ({bytes, lens, counts}: pretokens concatenated, their
// lengths, their counts) into one table keyed by the pretoken bytes, with
// 64-bit counts, and hands the sum back in the same form. It reuses the
// counter's CountTable (tok_core.h): dense entries in order of first
// occurrence behind an open-addressing index.
//
// Tallies are numbered handles owned by the calling thread, like encoders
// and counters (tok_napi.cc). Every argument is checked before the table is
// touched: a wrong type, lengths that do not add up, a count that is not a
// whole number in [0, 2^53], an empty pretoken or a released handle throws a
// JS error and leaves the table as it was.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "../napi_args.h"
#include "tok_core.h"

namespace lmp {
namespace tok {

// Declared in tok_napi.cc: a count table's entries as {bytes, lens, counts}.
Napi::Object count_table_arrays(Napi::Env env, const CountTable& t) {
  size_t total = 0;
  for (size_t k = 0; k < t.size; k++) total += t.slots_p[k].len;
  Napi::Uint8Array bytes = Napi::Uint8Array::New(env, total);
  Napi::Int32Array lens = Napi::Int32Array::New(env, t.size);
  Napi::Float64Array counts = Napi::Float64Array::New(env, t.size);
  uint8_t* pb = bytes.Data();
  int32_t* pl = lens.Data();
  double* pc = counts.Data();
  size_t o = 0;
  for (size_t k = 0; k < t.size; k++) {
    const CountSlot& s = t.slots_p[k];
    uint8_t head[16];
    std::memcpy(head, &s.k0, 8);
    std::memcpy(head + 8, &s.k1, 8);
    std::memcpy(pb + o, head, s.len < 16 ? s.len : 16);
    if (s.len > 16) std::memcpy(pb + o + 16, t.arena_p + s.tail, s.len - 16);
    o += s.len;
    pl[k] = static_cast<int32_t>(s.len);
    pc[k] = static_cast<double>(s.count);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("bytes", bytes);
  out.Set("lens", lens);
  out.Set("counts", counts);
  return out;
}

namespace {

struct Tally {
  CountTable table;
  Tally() { table.init(16); }
};

thread_local std::vector<std::unique_ptr<Tally>> t_tallies;

constexpr double kMaxCount = 9007199254740992.0;  // 2^53: doubles are exact up to here

// The tally's arguments (napi_args.h) and its handles, owned by the calling thread.
class Args : public NapiArgs {
 public:
  using NapiArgs::NapiArgs;
  // The handle number at argument 0 (1-based), checked against this thread's table.
  size_t handle() const {
    if (info().Length() < 1 || !info()[0].IsNumber()) fail(0, "must be a tally handle");
    const double v = info()[0].As<Napi::Number>().DoubleValue();
    if (!(v >= 1) || v != std::floor(v) || v > static_cast<double>(t_tallies.size())) fail(0, "is not a tally handle of this thread");
    return static_cast<size_t>(v);
  }
  Tally* tally() const {
    Tally* t = t_tallies[handle() - 1].get();
    if (t == nullptr) error("this tally has been released");
    return t;
  }
};

// Adds `count` occurrences of b[i, i + len) (len > 0), whose key words and hash are given.
inline void tally_one(CountTable& T, const uint8_t* b, size_t i, size_t len, uint64_t k0, uint64_t k1, uint64_t h,
                      uint64_t count) {
  const uint32_t tag = static_cast<uint32_t>(h);
  size_t at = h & T.mask;
  for (;;) {
    const uint32_t e = T.index_p[at];
    if (e == 0) {
      T.insert_new(b, i, len, k0, k1, h, at);  // count 1, set below; may grow the index
      T.slots_p[T.size - 1].count = count;
      return;
    }
    CountSlot& cs = T.slots_p[e - 1];
    if (cs.len == len && cs.hash == tag && cs.k0 == k0 && cs.k1 == k1 &&
        (len <= 16 || std::memcmp(T.arena_p + cs.tail, b + i + 16, len - 16) == 0)) {
      cs.count += count;
      return;
    }
    at = (at + 1) & T.mask;
  }
}

// Software pipeline over the entries, for a table larger than the caches:
// an entry's key is hashed and its index slot prefetched 2 * kAhead entries
// before its lookup, and the dense entry that slot names prefetched kAhead
// entries before, so the two dependent cache misses of each lookup overlap
// with other entries' work.
constexpr size_t kAhead = 8;

struct Pending {
  size_t i, len;
  uint64_t k0, k1, h;
};

// Adds n entries (already checked) into T.
void tally_add(CountTable& T, const uint8_t* b, size_t nb, const int32_t* lens, const double* counts, size_t n) {
  constexpr size_t kRing = 2 * kAhead;
  Pending ring[kRing];
  size_t off = 0;  // byte offset of the next entry to hash
  auto hash_into = [&](size_t j) {
    Pending& p = ring[j % kRing];
    // The lengths were checked, but a SharedArrayBuffer could change under us: never read past the bytes.
    const size_t want = lens[j] > 0 ? static_cast<size_t>(lens[j]) : 0;
    const size_t len = want <= nb - off ? want : nb - off;
    p.i = off;
    p.len = len;
    load_key(b, off, len, nb, &p.k0, &p.k1);
    p.h = key_hash(b, off, len, p.k0, p.k1);
    __builtin_prefetch(T.index_p + (p.h & T.mask));
    off += len;
  };
  auto touch_entry = [&](size_t j) {
    const uint32_t e = T.index_p[ring[j % kRing].h & T.mask];
    if (e != 0) __builtin_prefetch(T.slots_p + (e - 1));
  };
  for (size_t j = 0; j < n && j < kRing; j++) hash_into(j);
  for (size_t j = 0; j < n && j < kAhead; j++) touch_entry(j);
  for (size_t k = 0; k < n; k++) {
    const Pending cur = ring[k % kRing];
    if (k + kRing < n) hash_into(k + kRing);
    if (k + kAhead < n) touch_entry(k + kAhead);
    const double c = counts[k];
    tally_one(T, b, cur.i, cur.len, cur.k0, cur.k1, cur.h, c >= 0 && c <= kMaxCount ? static_cast<uint64_t>(c) : 0);
  }
}

// tokTallyCreate() -> handle
Napi::Value TallyCreate(const Napi::CallbackInfo& info) {
  std::unique_ptr<Tally> t;
  try {
    t.reset(new Tally());
  } catch (const std::bad_alloc&) {
    Args(info, "tokTallyCreate").error("out of memory for the tally table");
  }
  t_tallies.push_back(std::move(t));
  return Napi::Number::New(info.Env(), static_cast<double>(t_tallies.size()));
}

// tokTallyAdd(handle, bytes: Uint8Array, lens: Int32Array, counts: Float64Array) -> unique pretokens so far
Napi::Value TallyAdd(const Napi::CallbackInfo& info) {
  Args a(info, "tokTallyAdd");
  Tally* t = a.tally();
  size_t nb, nl, nc;
  const uint8_t* b = a.u8(1, &nb);
  const int32_t* lens = a.i32(2, &nl);
  const double* counts = a.f64(3, &nc);
  if (nc != nl) a.fail(3, "must hold one count per length in argument 2");
  size_t total = 0;
  for (size_t k = 0; k < nl; k++) {
    const int32_t len = lens[k];
    if (len <= 0) a.fail(2, "holds a length that is not positive (at " + std::to_string(k) + ")");
    total += static_cast<size_t>(len);
    const double c = counts[k];
    if (!(c >= 0) || c > kMaxCount || c != std::floor(c)) {
      a.fail(3, "holds a count that is not a whole number in [0, 2^53] (at " + std::to_string(k) + ")");
    }
  }
  if (total != nb) a.fail(2, "holds lengths that do not add up to the bytes in argument 1");
  try {
    tally_add(t->table, b, nb, lens, counts, nl);
  } catch (const std::bad_alloc&) {
    a.error("out of memory for the tally table (it holds the entries added before this one)");
  }
  return Napi::Number::New(info.Env(), static_cast<double>(t->table.size));
}

// tokTallySize(handle) -> unique pretokens so far
Napi::Value TallySize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Args(info, "tokTallySize").tally()->table.size));
}

// tokTallyTake(handle) -> {bytes, lens, counts}: the sum, entries in order of
// first occurrence; the tally is emptied (its memory freed) and stays usable.
Napi::Value TallyTake(const Napi::CallbackInfo& info) {
  Args a(info, "tokTallyTake");
  Tally* t = a.tally();
  Napi::Object out = count_table_arrays(info.Env(), t->table);
  // A fresh small table: the old one's vectors are freed here.
  try {
    t->table = CountTable();
    t->table.init(16);
  } catch (const std::bad_alloc&) {
    t_tallies[a.handle() - 1].reset();
    a.error("out of memory for a fresh tally table (the tally was released)");
  }
  return out;
}

// tokTallyRelease(handle): frees the table; the handle cannot be used afterwards.
Napi::Value TallyRelease(const Napi::CallbackInfo& info) {
  t_tallies[Args(info, "tokTallyRelease").handle() - 1].reset();
  return info.Env().Undefined();
}

// tokSortKeys(bytes: Uint8Array, lens: Int32Array, order: Int32Array): writes
// into `order` the indices of the keys (concatenated in `bytes`, one length
// each in `lens`) in unsigned byte order, a key before the longer keys it
// begins (the order of a count file's records, counts-file.ts).
Napi::Value SortKeys(const Napi::CallbackInfo& info) {
  NapiArgs a(info, "tokSortKeys");
  size_t nb, nl, no;
  const uint8_t* b = a.u8(0, &nb);
  const int32_t* lens = a.i32(1, &nl);
  int32_t* order = a.i32(2, &no);
  if (no < nl) a.fail(2, "must have one element per length in argument 1");
  if (nl > 2147483647u) a.fail(1, "has more keys than an Int32Array can index");
  std::vector<uint64_t> start(nl);
  size_t total = 0;
  for (size_t k = 0; k < nl; k++) {
    if (lens[k] < 0) a.fail(1, "holds a negative length (at " + std::to_string(k) + ")");
    start[k] = total;
    total += static_cast<size_t>(lens[k]);
  }
  if (total != nb) a.fail(1, "holds lengths that do not add up to the bytes in argument 0");
  for (size_t k = 0; k < nl; k++) order[k] = static_cast<int32_t>(k);
  std::sort(order, order + nl, [&](int32_t x, int32_t y) {
    const size_t lx = static_cast<size_t>(lens[x]), ly = static_cast<size_t>(lens[y]);
    const int c = std::memcmp(b + start[x], b + start[y], lx < ly ? lx : ly);
    return c != 0 ? c < 0 : lx < ly;
  });
  return info.Env().Undefined();
}

}  // namespace

void register_tally(Napi::Env env, Napi::Object exports) {
  exports.Set("tokTallyCreate", Napi::Function::New(env, TallyCreate));
  exports.Set("tokTallyAdd", Napi::Function::New(env, TallyAdd));
  exports.Set("tokTallySize", Napi::Function::New(env, TallySize));
  exports.Set("tokTallyTake", Napi::Function::New(env, TallyTake));
  exports.Set("tokTallyRelease", Napi::Function::New(env, TallyRelease));
  exports.Set("tokSortKeys", Napi::Function::New(env, SortKeys));
}

}  // namespace tok
}  // namespace lmp
