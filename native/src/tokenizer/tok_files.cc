// Reading a GPT-2 tokenizer's vocab.json and merges.txt into the tables of
// src/tokenizer/tokenizer-files.ts (a byte pool with offsets by id, and
// merge triples of ids): the fast path of start-up. With the GPT-2
// vocabulary the TypeScript reader spends ~200 ms on JSON.parse, 50,000
// object keys and 50,000 merge lines, about as long as encoding 50 MB.
//
// Only well-formed files are read here: anything the TypeScript reader
// would reject, or that takes more than the plain rules below (ids written
// other than as plain digits, duplicate keys, characters outside the GPT-2
// byte table, unusual line ends), returns null, and the TypeScript reader,
// which stays the reference, reads the files and reports the error. Tests
// hold both readers equal (test/tokenizer-files-native.test.ts).
#include <napi.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../napi_args.h"
#include "tok_core.h"

namespace lmp {
namespace tok {
namespace {

// GPT-2's byte <-> character table (src/tokenizer/byte-unicode.ts): printable
// bytes are their own character, the others U+0100 upward in byte order.
struct ByteTable {
  int16_t byte_of[512];
  ByteTable() {
    for (int c = 0; c < 512; c++) byte_of[c] = -1;
    int n = 0;
    for (int b = 0; b < 256; b++) {
      const bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
      byte_of[printable ? b : 256 + n++] = static_cast<int16_t>(b);
    }
  }
};
const ByteTable kTable;

// One UTF-8 character at p[*i] (*i < n) of the table, as its byte; -1 for
// anything else (invalid UTF-8 decodes to kInvalidCp, outside the table).
int table_byte(const uint8_t* p, size_t n, size_t* i) {
  int len;
  const uint32_t cp = decode_utf8(p, *i, n, &len);
  *i += static_cast<size_t>(len);
  return cp < 512 ? kTable.byte_of[cp] : -1;
}

int hex4(const uint8_t* p) {
  int v = 0;
  for (int k = 0; k < 4; k++) {
    const uint8_t c = p[k];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return -1;
    v = v * 16 + d;
  }
  return v;
}

bool json_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A JSON string at p[*i] (the opening quote) as table bytes appended to out;
// false when it is not one (or holds a character outside the table).
bool json_string(const uint8_t* p, size_t n, size_t* i, std::vector<uint8_t>* out) {
  if (*i >= n || p[*i] != '"') return false;
  size_t k = *i + 1;
  while (k < n) {
    const uint8_t c = p[k];
    if (c == '"') {
      *i = k + 1;
      return true;
    }
    if (c < 0x20) return false;
    int b;
    if (c == '\\') {
      if (k + 1 >= n) return false;
      const uint8_t e = p[k + 1];
      int cp;
      switch (e) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = 8; break;
        case 'f': cp = 12; break;
        case 'n': cp = 10; break;
        case 'r': cp = 13; break;
        case 't': cp = 9; break;
        case 'u':
          if (k + 6 > n) return false;
          cp = hex4(p + k + 2);
          if (cp < 0) return false;
          k += 4;
          break;
        default: return false;
      }
      k += 2;
      b = cp < 512 ? kTable.byte_of[cp] : -1;
    } else {
      b = table_byte(p, n, &k);
    }
    if (b < 0) return false;
    out->push_back(static_cast<uint8_t>(b));
  }
  return false;
}

// FNV-1a of a token's bytes.
uint32_t token_hash(const uint8_t* p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t k = 0; k < n; k++) h = (h ^ p[k]) * 16777619u;
  return h;
}

struct Vocab {
  std::vector<uint8_t> pool;
  std::vector<uint32_t> offsets;
  // Token bytes -> id: open addressing over ids (-1: empty), at most half full.
  std::vector<int32_t> slots;
  uint32_t mask = 0;
  // The id of the token with these bytes, or -1.
  int32_t find(const uint8_t* p, size_t n) const {
    for (uint32_t s = token_hash(p, n) & mask;; s = (s + 1) & mask) {
      const int32_t id = slots[s];
      if (id < 0) return -1;
      const uint32_t o = offsets[id], len = offsets[id + 1] - o;
      if (len == n && (n == 0 || std::memcmp(pool.data() + o, p, n) == 0)) return id;
    }
  }
  // Adds id; false when its bytes are already a token (a duplicate key).
  bool insert(int32_t id) {
    const uint32_t o = offsets[id], n = offsets[id + 1] - o;
    if (find(pool.data() + o, n) >= 0) return false;
    uint32_t s = token_hash(pool.data() + o, n) & mask;
    while (slots[s] >= 0) s = (s + 1) & mask;
    slots[s] = id;
    return true;
  }
};

// vocab.json: one object of token string -> id, ids 0..n-1 each used once,
// written as plain digits; every byte must have a one-byte token.
bool read_vocab(const uint8_t* p, size_t n, Vocab* v) {
  size_t i = 0;
  while (i < n && json_space(p[i])) i++;
  if (i >= n || p[i] != '{') return false;
  i++;
  std::vector<uint8_t> bytes;             // all tokens' bytes in file order
  std::vector<uint64_t> where;            // per token: start << 32 | length
  std::vector<int64_t> idv;               // per token: its id
  bytes.reserve(n);
  where.reserve(n / 8);
  idv.reserve(n / 8);
  for (;;) {
    while (i < n && json_space(p[i])) i++;
    if (i < n && p[i] == '}' && where.empty()) { i++; break; }
    const size_t start = bytes.size();
    if (!json_string(p, n, &i, &bytes)) return false;
    while (i < n && json_space(p[i])) i++;
    if (i >= n || p[i] != ':') return false;
    i++;
    while (i < n && json_space(p[i])) i++;
    if (i >= n || p[i] < '0' || p[i] > '9') return false;
    if (p[i] == '0' && i + 1 < n && p[i + 1] >= '0' && p[i + 1] <= '9') return false;  // not JSON
    int64_t id = 0;
    while (i < n && p[i] >= '0' && p[i] <= '9') {
      id = id * 10 + (p[i] - '0');
      if (id > 2147483647) return false;
      i++;
    }
    if (i < n && (p[i] == '.' || p[i] == 'e' || p[i] == 'E')) return false;  // the reference judges those
    where.push_back(static_cast<uint64_t>(start) << 32 | (bytes.size() - start));
    idv.push_back(id);
    while (i < n && json_space(p[i])) i++;
    if (i < n && p[i] == ',') { i++; continue; }
    if (i < n && p[i] == '}') { i++; break; }
    return false;
  }
  while (i < n && json_space(p[i])) i++;
  if (i != n) return false;
  const size_t size = where.size();
  if (bytes.size() > 0xffffffffu) return false;
  std::vector<int64_t> token_of(size, -1);
  for (size_t t = 0; t < size; t++) {
    if (idv[t] >= static_cast<int64_t>(size) || token_of[idv[t]] >= 0) return false;
    token_of[idv[t]] = static_cast<int64_t>(t);
  }
  v->offsets.assign(size + 1, 0);
  for (size_t id = 0; id < size; id++) v->offsets[id + 1] = v->offsets[id] + static_cast<uint32_t>(where[token_of[id]] & 0xffffffffu);
  v->pool.resize(v->offsets[size]);
  bool have[256] = {false};
  for (size_t id = 0; id < size; id++) {
    const uint64_t w = where[token_of[id]];
    const size_t len = w & 0xffffffffu;
    if (len > 0) std::memcpy(v->pool.data() + v->offsets[id], bytes.data() + (w >> 32), len);
    if (len == 1) have[bytes[w >> 32]] = true;
  }
  for (int b = 0; b < 256; b++) if (!have[b]) return false;
  size_t cap = 16;
  while (cap < size * 2) cap *= 2;
  v->slots.assign(cap, -1);
  v->mask = static_cast<uint32_t>(cap - 1);
  for (size_t id = 0; id < size; id++) {
    if (!v->insert(static_cast<int32_t>(id))) return false;  // a duplicate key
  }
  return true;
}

// merges.txt: `A B` lines (trailing spaces, tabs and CRs ignored), blank lines
// skipped, a first line starting with #version skipped; A, B and A + B must
// be tokens of the vocabulary.
bool read_merges(const uint8_t* p, size_t n, const Vocab& v, std::vector<int32_t>* out) {
  if (n == 0) return true;
  std::vector<uint8_t> a, b;
  out->reserve(n / 2);
  size_t line_start = 0;
  for (size_t line = 0; line_start <= n; line++) {
    const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(p + line_start, '\n', n - line_start));
    const size_t line_end = nl ? static_cast<size_t>(nl - p) : n;
    size_t e = line_end;
    while (e > line_start && (p[e - 1] == ' ' || p[e - 1] == '\t' || p[e - 1] == '\r' || p[e - 1] == '\v' || p[e - 1] == '\f')) e--;
    const size_t s = line_start;
    line_start = line_end + 1;
    if (e == s) {
      if (!nl) break;
      continue;
    }
    if (line == 0 && e - s >= 8 && std::memcmp(p + s, "#version", 8) == 0) continue;
    const uint8_t* sp = static_cast<const uint8_t*>(std::memchr(p + s, ' ', e - s));
    if (sp == nullptr) return false;
    const size_t at = static_cast<size_t>(sp - p);
    if (at == s || at + 1 == e || std::memchr(p + at + 1, ' ', e - at - 1) != nullptr) return false;
    a.clear();
    b.clear();
    for (size_t k = s; k < at;) {
      const int x = table_byte(p, at, &k);
      if (x < 0) return false;
      a.push_back(static_cast<uint8_t>(x));
    }
    for (size_t k = at + 1; k < e;) {
      const int x = table_byte(p, e, &k);
      if (x < 0) return false;
      b.push_back(static_cast<uint8_t>(x));
    }
    const int32_t ia = v.find(a.data(), a.size());
    const int32_t ib = v.find(b.data(), b.size());
    a.insert(a.end(), b.begin(), b.end());
    const int32_t ic = v.find(a.data(), a.size());
    if (ia < 0 || ib < 0 || ic < 0) return false;
    out->push_back(ia);
    out->push_back(ib);
    out->push_back(ic);
    if (!nl) break;
  }
  return true;
}

// tokReadGpt2Files(vocabBytes: Uint8Array, mergesBytes: Uint8Array)
//   -> [pool: Uint8Array, offsets: Uint32Array, merges: Int32Array] | null
Napi::Value ReadGpt2Files(const Napi::CallbackInfo& info) {
  NapiArgs a(info, "tokReadGpt2Files");
  size_t nv, nm;
  const uint8_t* vp = a.u8(0, &nv);
  const uint8_t* mp = a.u8(1, &nm);
  Napi::Env env = info.Env();
  Vocab v;
  std::vector<int32_t> merges;
  if (!read_vocab(vp, nv, &v) || !read_merges(mp, nm, v, &merges)) return env.Null();
  Napi::Uint8Array pool = Napi::Uint8Array::New(env, v.pool.size());
  if (!v.pool.empty()) std::memcpy(pool.Data(), v.pool.data(), v.pool.size());
  Napi::Uint32Array offsets = Napi::Uint32Array::New(env, v.offsets.size());
  std::memcpy(offsets.Data(), v.offsets.data(), v.offsets.size() * 4);
  Napi::Int32Array triples = Napi::Int32Array::New(env, merges.size());
  if (!merges.empty()) std::memcpy(triples.Data(), merges.data(), merges.size() * 4);
  Napi::Array out = Napi::Array::New(env, 3);
  out.Set(0u, pool);
  out.Set(1u, offsets);
  out.Set(2u, triples);
  return out;
}

}  // namespace

void register_files(Napi::Env env, Napi::Object exports) {
  exports.Set("tokReadGpt2Files", Napi::Function::New(env, ReadGpt2Files));
}

}  // namespace tok
}  // namespace lmp
