// The tokenizer core shared by every instruction-set variant: character
// classes, the special-token trie, the pretoken -> ids cache, BPE merge
// application and the pretoken count table. Layout choices came from
// profiles of cold encodes of diverse mail prose: a cache probe was two
// dependent misses (index word, then entry) and took ~40% of the encode,
// so the cache is now one table of whole entries, probed in prefetched
// batches; a miss's merge lookups were chains of dependent misses (filter,
// pair table, id by rank), so a pair's slot now holds its rank and merged id. Hot lookups are `static inline`
// here so each variant (tok_scalar.cc, tok_avx2.cc, tok_avx512.cc) inlines
// them; everything else is out of line in tok_core.cc (baseline code).
//
// Rule (as for kernels.inc): this header is included before any
// `#pragma GCC target`, so all of its code is baseline x86-64; the per-ISA
// file tok_scan.inc uses no standard-library templates.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace lmp {
namespace tok {

// GPT-2 pattern character classes (same numbers as src/tokenizer/pretokenizer.ts).
enum : int { kLetter = 1, kNumber = 2, kSpace = 3, kOther = 4 };
// Pseudo code point of an invalid UTF-8 subpart (classified like U+FFFD: "other").
constexpr uint32_t kInvalidCp = 0x110000;

// Class of every code point 0..0x110000 (flat, 1.1 MB; only touched pages stay cached).
extern uint8_t* g_class;
// Per class (1..4): 1 for the ASCII bytes of that class ([cls * 256 + byte]).
extern uint8_t g_ascii_run[5 * 256];
// True when the ASCII classes are the standard ones the SIMD range tests assume.
extern bool g_ascii_standard;
// True once the class table has been set from JavaScript.
bool classes_ready();
// Sets the table from (start, end exclusive, class) triples; later triples win. Returns false on bad input.
bool set_classes(const uint32_t* triples, size_t n_triples);

// Decodes one character at b[i] (i < end) as the WHATWG decoder delimits it:
// returns the code point (kInvalidCp for an invalid subpart) and its length.
__attribute__((always_inline)) static inline uint32_t decode_utf8(const uint8_t* b, size_t i, size_t end, int* len) {
  const uint32_t b0 = b[i];
  if (b0 < 0x80) { *len = 1; return b0; }
  *len = 1;
  if (b0 < 0xc2) return kInvalidCp;
  if (b0 < 0xe0) {
    if (i + 1 < end && (b[i + 1] & 0xc0) == 0x80) { *len = 2; return ((b0 & 0x1f) << 6) | (b[i + 1] & 0x3f); }
    return kInvalidCp;
  }
  if (b0 < 0xf0) {
    const uint32_t lo = b0 == 0xe0 ? 0xa0 : 0x80, hi = b0 == 0xed ? 0x9f : 0xbf;
    if (i + 1 >= end) return kInvalidCp;
    const uint32_t b1 = b[i + 1];
    if (b1 < lo || b1 > hi) return kInvalidCp;
    *len = 2;
    if (i + 2 >= end) return kInvalidCp;
    const uint32_t b2 = b[i + 2];
    if ((b2 & 0xc0) != 0x80) return kInvalidCp;
    *len = 3;
    return ((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f);
  }
  if (b0 < 0xf5) {
    const uint32_t lo = b0 == 0xf0 ? 0x90 : 0x80, hi = b0 == 0xf4 ? 0x8f : 0xbf;
    if (i + 1 >= end) return kInvalidCp;
    const uint32_t b1 = b[i + 1];
    if (b1 < lo || b1 > hi) return kInvalidCp;
    *len = 2;
    if (i + 2 >= end) return kInvalidCp;
    const uint32_t b2 = b[i + 2];
    if ((b2 & 0xc0) != 0x80) return kInvalidCp;
    *len = 3;
    if (i + 3 >= end) return kInvalidCp;
    const uint32_t b3 = b[i + 3];
    if ((b3 & 0xc0) != 0x80) return kInvalidCp;
    *len = 4;
    return ((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f);
  }
  return kInvalidCp;
}

// ---------------------------------------------------------------------------
// Special tokens: a byte trie, leftmost-longest (as special-matcher.ts).
struct Specials {
  std::vector<int32_t> children;  // node * 256 + byte -> child (0 = none)
  std::vector<int32_t> terminal;  // node -> token index or -1
  uint8_t first[256] = {0};
  int sole_first = -1;  // the one first byte all tokens share, or -1
  size_t count = 0;
  // Builds from concatenated token bytes and their lengths; false on an empty token.
  bool build(const uint8_t* bytes, const int32_t* lens, size_t n);
  // Leftmost-longest token starting in [from, end) and ending by `end`:
  // its start, or -1; sets *match_end and *token.
  long find(const uint8_t* b, size_t from, size_t end, size_t* match_end, int* token) const;
};

// ---------------------------------------------------------------------------
// 64-bit mixing of a key's first 16 bytes (zero padded) and its length.
static inline uint64_t mix_key(uint64_t k0, uint64_t k1, uint64_t len) {
  uint64_t h = (k0 ^ (len * 0x9E3779B97F4A7C15ull)) * 0xbf58476d1ce4e5b9ull;
  h ^= (k1 + len) * 0x94d049bb133111ebull;
  h ^= h >> 31;
  h *= 0xd6e8feb86659fd93ull;
  return h ^ (h >> 32);
}


// Masks of the first min(len, 16) bytes of a key in its two words, by len (0..16).
extern const uint64_t g_key_mask[17][2];

// First min(len, 16) bytes of b[i, i + len) as two little-endian words, zero
// padded. Reads 16 bytes directly (masked, no branch on len) when they lie
// before `limit`.
static inline void load_key(const uint8_t* b, size_t i, size_t len, size_t limit, uint64_t* k0, uint64_t* k1) {
  if (i + 16 <= limit) {
    uint64_t w0, w1;
    std::memcpy(&w0, b + i, 8);
    std::memcpy(&w1, b + i + 8, 8);
    const uint64_t* m = g_key_mask[len < 16 ? len : 16];
    *k0 = w0 & m[0];
    *k1 = w1 & m[1];
    return;
  }
  uint8_t tmp[16] = {0};
  std::memcpy(tmp, b + i, len < 16 ? len : 16);
  std::memcpy(k0, tmp, 8);
  std::memcpy(k1, tmp + 8, 8);
}

// Hash of the bytes after the first 16 (keys longer than 16 bytes).
static inline uint64_t tail_hash(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull ^ n;
  size_t k = 0;
  for (; k + 8 <= n; k += 8) {
    uint64_t w;
    std::memcpy(&w, p + k, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  for (; k < n; k++) h = (h ^ p[k]) * 0x100000001b3ull;
  return h;
}

static inline uint64_t key_hash(const uint8_t* b, size_t i, size_t len, uint64_t k0, uint64_t k1) {
  return len <= 16 ? mix_key(k0, k1, len) : mix_key(k0, k1 ^ tail_hash(b + i + 16, len - 16), len);
}

// ---------------------------------------------------------------------------
// Pretoken -> ids cache: one open-addressing table of 2^n 32-byte slots (at
// most 3/4 filled: books.txt has 159k distinct pretokens, and at 1/2 a
// 2^18 table cleared every pass over it; a hit still costs about one line),
// probed linearly; a slot is the whole entry, so a probe
// is one memory access (two slots per cache line), and the encoder scans a
// batch of pretokens and prefetches their slots before it probes any of them.
// A slot holds the key's first 16 bytes inline (zero padded, compared
// exactly with its length) and, for a key of up to 16 bytes that makes at
// most 3 ids, the ids themselves. Otherwise the ids are in `vals` and the
// key bytes after the first 16 (keys of up to kMaxCached bytes) in `keys`,
// with 16 hash bits as a filter (pools that grow on demand, see cache_miss).
// Cleared at once when full.
constexpr size_t kMaxCached = 64;
constexpr uint32_t kInlineIds = 3;

struct CacheSlot {
  uint64_t k0, k1;
  uint8_t len;    // 0 = empty
  uint8_t count;  // ids
  uint16_t tag;   // hash bits (keys longer than 16 bytes)
  uint32_t v[3];  // inline: the ids; else v[0] = offset in `vals`, v[1] = offset in `keys` (len > 16)
};
static_assert(sizeof(CacheSlot) == 32, "a cache slot is half a cache line");

// Whether an entry's ids are in the slot itself.
static inline bool cache_inline(size_t len, uint32_t count) { return len <= 16 && count <= kInlineIds; }

struct Cache {
  CacheSlot* slots = nullptr;
  size_t mask = 0;
  size_t max_entries = 0;
  size_t entries = 0;
  std::vector<uint8_t> keys;
  size_t key_top = 0;
  std::vector<uint32_t> vals;
  size_t val_top = 0;
  // Raw views of `keys` and `vals` (the per-ISA code uses no std templates).
  uint8_t* keys_p = nullptr;
  uint32_t* vals_p = nullptr;
  uint64_t resets = 0;
  void init(int slots_log2);
  void clear();
  ~Cache();
};

// ---------------------------------------------------------------------------
// (left, right) -> (rank, merged id), open addressing.
struct MergeSlot {
  int32_t a, b, rank, merged;  // rank -1 = empty
};

constexpr int32_t kNoRank = 0x7fffffff;

struct Encoder {
  int32_t vocab_size = 0;
  int32_t byte_to_id[256];
  std::vector<uint64_t> byte_pairs;  // [x << 8 | y]: rank << 32 | merged id of byte tokens x, y (kNoRank << 32 | -1: none)
  std::vector<int32_t> byte_merged;  // [x << 8 | y]: the id that merge makes, or -1
  const int32_t* byte_merged_p = nullptr;
  std::vector<MergeSlot> mslots;
  uint32_t mmask = 0;
  std::vector<uint8_t> joinable;  // see joinableJunctions in bpe-encode.ts
  Specials specials;
  std::vector<int32_t> special_ids;
  const int32_t* special_ids_p = nullptr;
  Cache cache;
  // Merge scratch.
  std::vector<int32_t> s_ids, s_ranks, s_mids, s_next, s_prev;
  std::vector<uint64_t> s_heap;
  // Ids of the last encode (uint32): malloc'd, grown on demand (never zero-filled).
  uint32_t* obuf = nullptr;
  size_t ocap = 0;
  size_t out_len = 0;
  ~Encoder();
  uint64_t invalid = 0;   // invalid UTF-8 subparts seen (all encodes)
  int missing_byte = -1;  // set when a byte has no token (encode fails)

  // Returns an error message, or "" on success.
  std::string build(int32_t vocab, const int32_t* byte_to_id_in, const int32_t* merges, size_t n_merges,
                    const uint8_t* joinable_in, const uint8_t* sp_bytes, const int32_t* sp_lens,
                    const int32_t* sp_ids, size_t n_specials, int cache_log2);

  // Lookups: for vocabularies of up to 65,536 ids (and fewer than 65,535
  // merges) 8-byte slots that hold the whole answer (a << 48 | b << 32 |
  // rank + 1 << 16 | merged id), at most half full: one memory access, also
  // for a pair without a merge. Otherwise 16-byte slots behind a 2^20-bit
  // filter of the pairs that have a merge (128 KB: most pairs looked up
  // while merging have none).
  std::vector<uint64_t> mfilter;
  std::vector<uint64_t> mcompact;
  bool compact = false;

  static inline uint32_t pair_hash(int32_t a, int32_t b) {
    uint32_t h = static_cast<uint32_t>(a) * 0x9e3779b1u ^ (static_cast<uint32_t>(b) + 0x7f4a7c15u) * 0x85ebca77u;
    return h ^ (h >> 15);
  }
  static inline uint32_t filter_bit(uint32_t h) { return (h * 0x2c1b3c6du) >> 12; }
  inline uint32_t mhash(int32_t a, int32_t b) const { return pair_hash(a, b) & mmask; }
  // The 16-byte table (building, and vocabularies over 65,536 ids).
  inline const MergeSlot* find(int32_t a, int32_t b) const {
    uint32_t s = mhash(a, b);
    for (;;) {
      const MergeSlot& m = mslots[s];
      if (m.rank < 0) return nullptr;
      if (m.a == a && m.b == b) return &m;
      s = (s + 1) & mmask;
    }
  }
  // Rank and merged id of the pair (a, b); false when it has no merge.
  inline bool lookup(int32_t a, int32_t b, int32_t* rank, int32_t* merged) const {
    const uint32_t h = pair_hash(a, b);
    if (compact) {
      const uint64_t key = static_cast<uint64_t>(static_cast<uint32_t>(a) << 16 | static_cast<uint32_t>(b)) << 32;
      const uint64_t* table = mcompact.data();
      uint32_t s = h & mmask;
      for (;;) {
        const uint64_t v = table[s];
        if (v == 0) return false;
        if ((v & 0xffffffff00000000ull) == key) {
          *rank = static_cast<int32_t>((v >> 16) & 0xffff) - 1;
          *merged = static_cast<int32_t>(v & 0xffff);
          return true;
        }
        s = (s + 1) & mmask;
      }
    }
    const uint32_t f = filter_bit(h);
    if (((mfilter.data()[f >> 6] >> (f & 63)) & 1) == 0) return false;
    const MergeSlot* m = find(a, b);
    if (m == nullptr) return false;
    *rank = m->rank;
    *merged = m->merged;
    return true;
  }
  inline int32_t rank_of(int32_t a, int32_t b) const {
    int32_t r, m;
    return lookup(a, b, &r, &m) ? r : kNoRank;
  }
};

// Makes room for `need` ids in e->obuf (keeping the first `keep`); false when out of memory.
bool grow_out(Encoder* e, size_t need, size_t keep);
// Frees e->obuf when it holds more than `limit` ids.
void trim_out(Encoder* e, size_t limit);

// Merges bytes b[0, n) into ids at dst (room for n); returns the count, or -1
// when a byte has no token (sets e->missing_byte). Linear scans for short
// inputs, a heap for long ones.
long merge_bytes(Encoder* e, const uint8_t* b, size_t n, uint32_t* dst);
// A pretoken too long for the cache: merged piece by piece, cut where no
// merge can join the bytes on either side. Returns ids written, or -1.
long merge_long(Encoder* e, const uint8_t* b, size_t n, uint32_t* dst);
// Cache miss: merges b[i, i + len) into dst and caches it (slot: the empty
// slot the lookup ended on). Returns ids written, or -1. dst has room for
// max(len, kInlineIds) ids.
long cache_miss(Encoder* e, const uint8_t* b, size_t i, size_t len, uint64_t k0, uint64_t k1, uint64_t h,
                size_t slot, uint32_t* dst);

// ---------------------------------------------------------------------------
// Pretoken count table (BPE training), laid out like the cache: an
// open-addressing index of uint32 entry numbers (0 = empty, at most half
// full) over dense 40-byte entries in order of first occurrence (16 key
// bytes inline, the rest of a long key in an arena). Growing rebuilds only
// the index; clearing zeroes only the index.
struct CountSlot {
  uint64_t k0, k1;
  uint64_t count;
  uint32_t hash;  // low 32 bits of the hash (enough to place it: the index has < 2^32 slots)
  uint32_t len;
  uint64_t tail;  // offset in `arena` of bytes 16.. (len > 16)
};

struct CountTable {
  std::vector<uint32_t> index;
  size_t mask = 0;
  std::vector<CountSlot> slots;  // the dense entries
  size_t size = 0;
  std::vector<uint8_t> arena;
  size_t arena_top = 0;
  // Raw views, kept current on every reallocation (the per-ISA code uses no std templates).
  uint32_t* index_p = nullptr;
  CountSlot* slots_p = nullptr;
  uint8_t* arena_p = nullptr;
  void init(size_t cap_log2);
  void clear();
  // Appends a new key (count 1) and points the empty index slot `at` at it; grows when half full.
  void insert_new(const uint8_t* b, size_t i, size_t len, uint64_t k0, uint64_t k1, uint64_t h, size_t at);
  void grow();
};

struct Counter {
  Specials specials;
  CountTable table;
};

// Count tallies, in CountStats order.
struct CountStats {
  uint64_t bytes = 0, pretokens = 0, pieces = 0, specials = 0, invalid = 0;
};

// ---------------------------------------------------------------------------
// The per-ISA entry points (tok_scan.inc).
struct IsaFns {
  const char* name;
  // Encodes b[0, n) (special tokens included) into e->obuf (grown as needed);
  // returns the id count, -1 when a byte has no token, -2 when out of memory.
  long (*encode)(Encoder* e, const uint8_t* b, size_t n);
  // Counts the pretokens of b[0, n) into c->table.
  void (*count)(Counter* c, const uint8_t* b, size_t n, CountStats* stats);
  // Pretoken ends of b[0, n) (no special tokens) into ends; returns how many (test hook).
  size_t (*scan)(const uint8_t* b, size_t n, uint32_t* ends, size_t cap, uint64_t* invalid);
};

namespace scalar { extern const IsaFns fns; }
namespace avx2 { extern const IsaFns fns; }
namespace avx512 { extern const IsaFns fns; }

// The variants this CPU (and the class table) can run, scalar first.
std::vector<const IsaFns*> available_isas();
const IsaFns& active_isa();
// Makes a variant active by name; false when this CPU cannot run it.
bool select_isa(const char* name);

}  // namespace tok
}  // namespace lmp
