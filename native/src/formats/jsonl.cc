// JSON Lines extraction core (src/stages/formats/jsonl.ts is its caller, its
// reference and its fallback). `jsonlExtract` walks whole lines of JSON Lines
// bytes and, for each line that is one JSON object whose `field` (a top-level
// key, the last duplicate winning) holds a string, writes that string's UTF-8
// bytes followed by the separator into an output buffer: exactly the bytes of
// Buffer.from(JSON.parse(line.toString('utf8'))[field], 'utf8').
//
// It accepts only what it is sure of and defers every other line to the
// TypeScript line handler, which owns the messages, skip counting, warnings
// and odd cases: a line that is not strict JSON (RFC 8259, as V8's JSON.parse
// reads it), whose top-level value is not an object, that lacks the field or
// whose field is not a string, a key that holds invalid UTF-8 or a lone
// surrogate escape, nesting deeper than kMaxDepth, and a blank line of other
// than space, tab and CR. Deferring is always correct; accepting must be
// exactly right.
//
// Inside the extracted string, invalid UTF-8 becomes U+FFFD (EF BF BD) one
// maximal subpart at a time (WHATWG, as Buffer.toString decodes), a
// surrogate-pair escape becomes its 4-byte UTF-8 and a lone surrogate escape
// becomes EF BF BD (as Buffer.from encodes it). Plain scalar C++ with SSE2
// (part of the x86-64 baseline, so no run-time dispatch is needed) to find
// the next byte a string cannot copy as it is, 16 bytes at a time.
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../napi_args.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace lmp {
namespace {

// Containers nested inside the top-level object beyond this are deferred.
constexpr int kMaxDepth = 512;

// Results of jsonlExtract (its return value).
constexpr int kDone = 0;   // every line of the range was handled
constexpr int kDefer = 1;  // the line at result[0] (ending at result[1]) is the caller's
constexpr int kFull = 2;   // the line at result[0] does not fit in what is left of `out`

// Per line.
enum class Line { kDocument, kBlank, kDefer, kFull };
// Per string.
enum class Str { kOk, kBad, kFull };

inline bool is_ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

inline const uint8_t* skip_ws(const uint8_t* p, const uint8_t* end) {
  while (p < end && is_ws(*p)) p++;
  return p;
}

inline int hex_value(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 0x20;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Four hex digits at p (p + 4 <= end checked by the caller), or -1.
inline int32_t hex4(const uint8_t* p) {
  const int a = hex_value(p[0]), b = hex_value(p[1]), c = hex_value(p[2]), d = hex_value(p[3]);
  if ((a | b | c | d) < 0) return -1;
  return (a << 12) | (b << 8) | (c << 4) | d;
}

// The first byte in [p, end) that is '"', '\\' or below 0x20 (or end): the
// bytes a string that is only skipped cares about.
inline const uint8_t* find_skip_stop(const uint8_t* p, const uint8_t* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1f);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                     _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));
    const int m = _mm_movemask_epi8(hit);
    if (m != 0) return p + __builtin_ctz(static_cast<unsigned>(m));
    p += 16;
  }
#endif
  while (p < end && *p != '"' && *p != '\\' && *p >= 0x20) p++;
  return p;
}

// Skips a string's body (p after the opening quote) and returns the byte
// after its closing quote, or nullptr where JSON.parse would fail. Bytes
// from 0x80 need no check: invalid UTF-8 inside a string decodes to U+FFFD,
// which JSON.parse accepts, and a decoder never takes an ASCII byte into a
// sequence, so the quotes and backslashes are where they seem.
const uint8_t* skip_string(const uint8_t* p, const uint8_t* end) {
  for (;;) {
    p = find_skip_stop(p, end);
    if (p >= end) return nullptr;
    const uint8_t c = *p;
    if (c == '"') return p + 1;
    if (c < 0x20) return nullptr;
    // A backslash.
    if (end - p < 2) return nullptr;
    const uint8_t e = p[1];
    if (e == 'u') {
      if (end - p < 6 || hex4(p + 2) < 0) return nullptr;
      p += 6;
    } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
      p += 2;
    } else {
      return nullptr;
    }
  }
}

// Writes code point cp (not a surrogate) as UTF-8; o has room for 4 bytes.
inline uint8_t* put_utf8(uint8_t* o, uint32_t cp) {
  if (cp < 0x80) {
    *o++ = static_cast<uint8_t>(cp);
  } else if (cp < 0x800) {
    *o++ = static_cast<uint8_t>(0xc0 | (cp >> 6));
    *o++ = static_cast<uint8_t>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    *o++ = static_cast<uint8_t>(0xe0 | (cp >> 12));
    *o++ = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3f));
    *o++ = static_cast<uint8_t>(0x80 | (cp & 0x3f));
  } else {
    *o++ = static_cast<uint8_t>(0xf0 | (cp >> 18));
    *o++ = static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3f));
    *o++ = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3f));
    *o++ = static_cast<uint8_t>(0x80 | (cp & 0x3f));
  }
  return o;
}

inline uint8_t* put_replacement(uint8_t* o) {
  o[0] = 0xef;
  o[1] = 0xbf;
  o[2] = 0xbd;
  return o + 3;
}

// The length of the UTF-8 sequence at p (p < end, *p >= 0x80) when it is
// well formed, else -(the length of its maximal subpart), at least 1: the
// bytes one U+FFFD replaces (WHATWG's UTF-8 decoder).
inline int utf8_sequence(const uint8_t* p, const uint8_t* end) {
  const uint8_t b0 = p[0];
  int need;
  uint8_t lo = 0x80, hi = 0xbf;  // the range of the second byte
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    need = 1;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    need = 2;
    if (b0 == 0xe0) lo = 0xa0;
    if (b0 == 0xed) hi = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    need = 3;
    if (b0 == 0xf0) lo = 0x90;
    if (b0 == 0xf4) hi = 0x8f;
  } else {
    return -1;
  }
  const int64_t avail = end - p - 1;
  if (avail < 1 || p[1] < lo || p[1] > hi) return -1;
  for (int i = 2; i <= need; i++) {
    if (avail < i || (p[i] & 0xc0) != 0x80) return -i;
  }
  return need + 1;
}

// The first byte in [p, end) that a decoded string cannot copy as it is:
// '"', '\\', below 0x20 or from 0x80 (or end).
inline const uint8_t* find_copy_stop(const uint8_t* p, const uint8_t* end) {
  while (p < end && *p != '"' && *p != '\\' && *p >= 0x20 && *p < 0x80) p++;
  return p;
}

// Decodes a string's body (p after the opening quote) into o (up to oend):
// kOk with p after the closing quote and o after the bytes written; kBad
// where JSON.parse would fail or (`strict`, for keys) where the string holds
// invalid UTF-8 or a lone surrogate; kFull when oend comes first.
Str decode_string(const uint8_t*& pp, const uint8_t* end, uint8_t*& oo, uint8_t* oend, bool strict) {
  const uint8_t* p = pp;
  uint8_t* o = oo;
  for (;;) {
#if defined(__SSE2__)
    // 16 bytes at a time while both sides have room: store them all, keep those before the first stop.
    {
      const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), lim = _mm_set1_epi8(0x20);
      while (end - p >= 16 && oend - o >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        // Signed: bytes from 0x80 are negative, so "below 0x20" takes them too.
        const __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                         _mm_cmplt_epi8(v, lim));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o), v);
        const int m = _mm_movemask_epi8(hit);
        if (m != 0) {
          const int k = __builtin_ctz(static_cast<unsigned>(m));
          p += k;
          o += k;
          break;
        }
        p += 16;
        o += 16;
      }
    }
#endif
    {
      const uint8_t* q = find_copy_stop(p, end);
      const size_t n = static_cast<size_t>(q - p);
      if (n > static_cast<size_t>(oend - o)) return Str::kFull;
      std::memcpy(o, p, n);
      o += n;
      p = q;
    }
    if (p >= end) return Str::kBad;
    const uint8_t c = *p;
    if (c == '"') {
      pp = p + 1;
      oo = o;
      return Str::kOk;
    }
    if (c < 0x20) return Str::kBad;
    if (oend - o < 4) return Str::kFull;
    if (c >= 0x80) {
      const int n = utf8_sequence(p, end);
      if (n > 0) {
        std::memcpy(o, p, static_cast<size_t>(n));
        o += n;
        p += n;
      } else {
        if (strict) return Str::kBad;
        o = put_replacement(o);
        p += -n;
      }
      continue;
    }
    // A backslash.
    if (end - p < 2) return Str::kBad;
    const uint8_t e = p[1];
    switch (e) {
      case '"': *o++ = '"'; p += 2; continue;
      case '\\': *o++ = '\\'; p += 2; continue;
      case '/': *o++ = '/'; p += 2; continue;
      case 'b': *o++ = '\b'; p += 2; continue;
      case 'f': *o++ = '\f'; p += 2; continue;
      case 'n': *o++ = '\n'; p += 2; continue;
      case 'r': *o++ = '\r'; p += 2; continue;
      case 't': *o++ = '\t'; p += 2; continue;
      case 'u': break;
      default: return Str::kBad;
    }
    if (end - p < 6) return Str::kBad;
    const int32_t cp = hex4(p + 2);
    if (cp < 0) return Str::kBad;
    p += 6;
    if (cp >= 0xd800 && cp <= 0xdbff) {
      // A high surrogate pairs only with a low surrogate escape right after it.
      if (end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
        const int32_t lo = hex4(p + 2);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          o = put_utf8(o, 0x10000 + ((static_cast<uint32_t>(cp) - 0xd800) << 10) + (static_cast<uint32_t>(lo) - 0xdc00));
          p += 6;
          continue;
        }
      }
      if (strict) return Str::kBad;
      o = put_replacement(o);
    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
      if (strict) return Str::kBad;
      o = put_replacement(o);
    } else {
      o = put_utf8(o, static_cast<uint32_t>(cp));
    }
  }
}

// Skips a number (p at '-' or a digit): -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
// What follows is checked by the caller (a delimiter, else the line fails).
const uint8_t* skip_number(const uint8_t* p, const uint8_t* end) {
  if (*p == '-') p++;
  if (p >= end) return nullptr;
  if (*p == '0') {
    p++;
  } else if (*p >= '1' && *p <= '9') {
    while (p < end && *p >= '0' && *p <= '9') p++;
  } else {
    return nullptr;
  }
  if (p < end && *p == '.') {
    p++;
    if (p >= end || *p < '0' || *p > '9') return nullptr;
    while (p < end && *p >= '0' && *p <= '9') p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (p >= end || *p < '0' || *p > '9') return nullptr;
    while (p < end && *p >= '0' && *p <= '9') p++;
  }
  return p;
}

inline const uint8_t* skip_literal(const uint8_t* p, const uint8_t* end, const char* lit, size_t n) {
  if (static_cast<size_t>(end - p) < n || std::memcmp(p, lit, n) != 0) return nullptr;
  return p + n;
}

// Skips one JSON value (p at its first byte, after whitespace), nested
// containers with an explicit stack; returns the byte after it or nullptr
// (not JSON, or deeper than kMaxDepth).
const uint8_t* skip_value(const uint8_t* p, const uint8_t* end) {
  uint8_t stack[kMaxDepth];  // '{' or '['
  int depth = 0;
  for (;;) {
    // A value starts at p.
    if (p >= end) return nullptr;
    switch (*p) {
      case '"':
        p = skip_string(p + 1, end);
        break;
      case '{':
      case '[': {
        const uint8_t open = *p;
        p = skip_ws(p + 1, end);
        if (p < end && *p == (open == '{' ? '}' : ']')) {
          p++;
          break;
        }
        if (depth == kMaxDepth) return nullptr;
        stack[depth++] = open;
        if (open == '{') {
          if (p >= end || *p != '"') return nullptr;
          p = skip_string(p + 1, end);
          if (p == nullptr) return nullptr;
          p = skip_ws(p, end);
          if (p >= end || *p != ':') return nullptr;
          p = skip_ws(p + 1, end);
        }
        continue;  // the first element's value
      }
      case 't': p = skip_literal(p, end, "true", 4); break;
      case 'f': p = skip_literal(p, end, "false", 5); break;
      case 'n': p = skip_literal(p, end, "null", 4); break;
      default:
        if (*p == '-' || (*p >= '0' && *p <= '9')) {
          p = skip_number(p, end);
        } else {
          return nullptr;
        }
    }
    if (p == nullptr) return nullptr;
    // After a value: close containers, or go on to the next element.
    for (;;) {
      if (depth == 0) return p;
      p = skip_ws(p, end);
      if (p >= end) return nullptr;
      const uint8_t top = stack[depth - 1];
      if (*p == ',') {
        p = skip_ws(p + 1, end);
        if (top == '{') {
          if (p >= end || *p != '"') return nullptr;
          p = skip_string(p + 1, end);
          if (p == nullptr) return nullptr;
          p = skip_ws(p, end);
          if (p >= end || *p != ':') return nullptr;
          p = skip_ws(p + 1, end);
        }
        break;  // the next value
      }
      if (*p != (top == '{' ? '}' : ']')) return nullptr;
      p++;
      depth--;
    }
  }
}

struct Target {
  const uint8_t* field;
  size_t field_len;
  const uint8_t* sep;
  size_t sep_len;
};

// Whether the key whose body starts at p equals the field; p moves past the
// closing quote. kBad: not JSON, or a key it does not compare (invalid UTF-8,
// a lone surrogate escape).
Str match_key(const uint8_t*& p, const uint8_t* end, const Target& t, bool* match, std::vector<uint8_t>& scratch) {
  const uint8_t* q = p;
  while (q < end && *q != '"' && *q != '\\' && *q >= 0x20 && *q < 0x80) q++;
  if (q < end && *q == '"') {
    // Plain ASCII: compare in place.
    *match = static_cast<size_t>(q - p) == t.field_len && std::memcmp(p, t.field, t.field_len) == 0;
    p = q + 1;
    return Str::kOk;
  }
  // Escapes or non-ASCII: decode (never longer than 3 bytes per input byte).
  const uint8_t* s = p;
  const uint8_t* close = skip_string(p, end);
  if (close == nullptr) return Str::kBad;
  scratch.resize(static_cast<size_t>(close - s) * 3 + 8);
  uint8_t* o = scratch.data();
  const Str r = decode_string(s, end, o, scratch.data() + scratch.size(), true);
  if (r != Str::kOk) return Str::kBad;
  const size_t n = static_cast<size_t>(o - scratch.data());
  *match = n == t.field_len && std::memcmp(scratch.data(), t.field, n) == 0;
  p = s;
  return Str::kOk;
}

// One line [p, end) without its LF: its document goes to out at o (and o
// moves past it and the separator) only when the result is kDocument.
Line extract_line(const uint8_t* p, const uint8_t* end, uint8_t*& o, uint8_t* oend, const Target& t,
                  std::vector<uint8_t>& scratch) {
  p = skip_ws(p, end);
  if (p == end) return Line::kBlank;
  if (*p != '{') return Line::kDefer;
  p = skip_ws(p + 1, end);
  uint8_t* const start = o;
  uint8_t* text_end = nullptr;  // set while the last `field` seen holds a string
  if (p < end && *p == '}') {
    p++;
  } else {
    for (;;) {
      if (p >= end || *p != '"') return Line::kDefer;
      p++;
      bool match = false;
      if (match_key(p, end, t, &match, scratch) != Str::kOk) return Line::kDefer;
      p = skip_ws(p, end);
      if (p >= end || *p != ':') return Line::kDefer;
      p = skip_ws(p + 1, end);
      if (p >= end) return Line::kDefer;
      if (match) {
        if (*p == '"') {
          p++;
          uint8_t* w = start;
          const Str r = decode_string(p, end, w, oend, false);
          if (r == Str::kFull) return Line::kFull;
          if (r != Str::kOk) return Line::kDefer;
          text_end = w;
        } else {
          text_end = nullptr;  // a later duplicate may still make it a string
          p = skip_value(p, end);
        }
      } else {
        p = skip_value(p, end);
      }
      if (p == nullptr) return Line::kDefer;
      p = skip_ws(p, end);
      if (p >= end) return Line::kDefer;
      if (*p == '}') {
        p++;
        break;
      }
      if (*p != ',') return Line::kDefer;
      p = skip_ws(p + 1, end);
    }
  }
  if (skip_ws(p, end) != end) return Line::kDefer;
  if (text_end == nullptr) return Line::kDefer;
  if (static_cast<size_t>(oend - text_end) < t.sep_len) return Line::kFull;
  if (t.sep_len > 0) std::memcpy(text_end, t.sep, t.sep_len);
  o = text_end + t.sep_len;
  return Line::kDocument;
}

using Args = NapiArgs;

bool overlap(const uint8_t* a, size_t na, const uint8_t* b, size_t nb) {
  const uintptr_t x = reinterpret_cast<uintptr_t>(a), y = reinterpret_cast<uintptr_t>(b);
  return na > 0 && nb > 0 && x < y + nb && y < x + na;
}

// jsonlExtract(src, from, to, field, sep, out, outFrom, result: Float64Array(5)) → status
//
// [from, to) of src holds whole lines: each ends at an LF, the last one at
// `to` when it does not (an empty segment there is no line). Handles them in
// order until one is deferred (kDefer) or its document does not fit in out
// after where the documents so far end (kFull), else all of them (kDone).
// result: [where it stopped: the deferred / unfitting line's start, or to;
// that line's end (its LF, or to); the end of the documents written to out;
// lines handled (documents and blank lines); documents written].
Napi::Value JsonlExtract(const Napi::CallbackInfo& info) {
  Args a(info, "jsonlExtract");
  size_t src_len, field_len, sep_len, out_len, res_len;
  const uint8_t* src = a.u8(0, &src_len);
  const size_t from = a.index(1, src_len);
  const size_t to = a.index(2, src_len);
  if (to < from) a.fail(2, "must not be below argument 1");
  const uint8_t* field = a.u8(3, &field_len);
  const uint8_t* sep = a.u8(4, &sep_len);
  uint8_t* out = a.u8(5, &out_len);
  const size_t out_from = a.index(6, out_len);
  double* result = a.f64(7, &res_len);
  if (res_len < 5) a.fail(7, "must have at least 5 elements");
  // The output is written while the input is read: they must not overlap.
  if (overlap(out, out_len, src, src_len)) a.fail(5, "must not share memory with argument 0");
  if (overlap(out, out_len, field, field_len)) a.fail(5, "must not share memory with argument 3");
  if (overlap(out, out_len, sep, sep_len)) a.fail(5, "must not share memory with argument 4");

  const Target t{field, field_len, sep, sep_len};
  std::vector<uint8_t> scratch;
  const uint8_t* p = src + from;
  const uint8_t* const end = src + to;
  uint8_t* o = out + out_from;
  uint8_t* const oend = out + out_len;
  double lines = 0, documents = 0;
  int status = kDone;
  const uint8_t* line_end = end;
  while (p < end) {
    const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
    line_end = nl != nullptr ? static_cast<const uint8_t*>(nl) : end;
    const Line r = extract_line(p, line_end, o, oend, t, scratch);
    if (r == Line::kDefer || r == Line::kFull) {
      status = r == Line::kDefer ? kDefer : kFull;
      break;
    }
    lines++;
    if (r == Line::kDocument) documents++;
    p = nl != nullptr ? line_end + 1 : end;
  }
  if (status == kDone) line_end = end;
  result[0] = static_cast<double>(p - src);
  result[1] = static_cast<double>(line_end - src);
  result[2] = static_cast<double>(o - out);
  result[3] = lines;
  result[4] = documents;
  return Napi::Number::New(info.Env(), status);
}

}  // namespace

// Adds the reader formats' functions to the addon's exports (called by addon.cc's Init).
void register_formats(Napi::Env env, Napi::Object exports) {
  exports.Set("jsonlExtract", Napi::Function::New(env, JsonlExtract));
}

}  // namespace lmp
