// Out-of-line parts of the tokenizer core (baseline code): the class table,
// special-token trie, cache and count-table maintenance, merge application
// (cache misses: a precomputed first round from the byte-pair table, then
// linear scans for short words and a heap for long ones, one pair-table
// access per lookup), and the choice of instruction-set variant.
#include "tok_core.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>

#include <sys/mman.h>

namespace lmp {
namespace tok {

uint8_t* g_class = nullptr;

#define LMP_KEY_MASK(n) {(n) >= 8 ? ~0ull : (1ull << (8 * (n))) - 1, (n) >= 16 ? ~0ull : (n) <= 8 ? 0ull : (1ull << (8 * ((n) - 8))) - 1}
const uint64_t g_key_mask[17][2] = {LMP_KEY_MASK(0),  LMP_KEY_MASK(1),  LMP_KEY_MASK(2),  LMP_KEY_MASK(3),  LMP_KEY_MASK(4),
                                    LMP_KEY_MASK(5),  LMP_KEY_MASK(6),  LMP_KEY_MASK(7),  LMP_KEY_MASK(8),  LMP_KEY_MASK(9),
                                    LMP_KEY_MASK(10), LMP_KEY_MASK(11), LMP_KEY_MASK(12), LMP_KEY_MASK(13), LMP_KEY_MASK(14),
                                    LMP_KEY_MASK(15), LMP_KEY_MASK(16)};
#undef LMP_KEY_MASK
uint8_t g_ascii_run[5 * 256];
bool g_ascii_standard = false;

namespace {
std::mutex g_class_mu;
std::atomic<bool> g_class_ready{false};

// The ASCII classes every Unicode version gives (the SIMD paths test these ranges).
int standard_ascii_class(int c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return kLetter;
  if (c >= '0' && c <= '9') return kNumber;
  if ((c >= 9 && c <= 13) || c == ' ') return kSpace;
  return kOther;
}
}  // namespace

bool classes_ready() { return g_class_ready.load(std::memory_order_acquire); }

bool set_classes(const uint32_t* t, size_t n) {
  for (size_t k = 0; k < n; k++) {
    const uint32_t s = t[3 * k], e = t[3 * k + 1], c = t[3 * k + 2];
    if (s > e || e > kInvalidCp || c < kLetter || c > kOther) return false;
  }
  std::lock_guard<std::mutex> lock(g_class_mu);
  // Every thread of a process hands over the same table (same V8): the first one stays.
  if (g_class_ready.load(std::memory_order_acquire)) return true;
  uint8_t* cls = static_cast<uint8_t*>(std::malloc(kInvalidCp + 1));
  if (cls == nullptr) return false;
  std::memset(cls, kOther, kInvalidCp + 1);
  for (size_t k = 0; k < n; k++) std::memset(cls + t[3 * k], static_cast<int>(t[3 * k + 2]), t[3 * k + 1] - t[3 * k]);
  cls[kInvalidCp] = kOther;
  std::memset(g_ascii_run, 0, sizeof g_ascii_run);
  bool standard = true;
  for (int b = 0; b < 0x80; b++) {
    g_ascii_run[cls[b] * 256 + b] = 1;
    if (cls[b] != standard_ascii_class(b)) standard = false;
  }
  g_ascii_standard = standard;
  g_class = cls;
  g_class_ready.store(true, std::memory_order_release);
  return true;
}

// ---------------------------------------------------------------------------
bool Specials::build(const uint8_t* bytes, const int32_t* lens, size_t n) {
  children.assign(256, 0);
  terminal.assign(1, -1);
  std::memset(first, 0, sizeof first);
  count = n;
  int sole = -2;
  size_t o = 0;
  for (size_t t = 0; t < n; t++) {
    const size_t len = static_cast<size_t>(lens[t]);
    if (len == 0) return false;
    const uint8_t* p = bytes + o;
    o += len;
    first[p[0]] = 1;
    sole = sole == -2 ? p[0] : (sole == p[0] ? sole : -1);
    size_t node = 0;
    for (size_t q = 0; q < len; q++) {
      int32_t child = children[node * 256 + p[q]];
      if (child == 0) {
        child = static_cast<int32_t>(terminal.size());
        terminal.push_back(-1);
        children.resize(children.size() + 256, 0);
        children[node * 256 + p[q]] = child;
      }
      node = static_cast<size_t>(child);
    }
    if (terminal[node] < 0) terminal[node] = static_cast<int32_t>(t);
  }
  sole_first = sole >= 0 ? sole : -1;
  return true;
}

long Specials::find(const uint8_t* b, size_t from, size_t end, size_t* match_end, int* token) const {
  if (count == 0) return -1;
  size_t p = from;
  while (p < end) {
    if (sole_first >= 0) {
      const void* q = std::memchr(b + p, sole_first, end - p);
      if (q == nullptr) return -1;
      p = static_cast<size_t>(static_cast<const uint8_t*>(q) - b);
    } else if (first[b[p]] == 0) {
      p++;
      continue;
    }
    size_t node = 0;
    int best = -1;
    size_t best_end = 0;
    for (size_t q = p; q < end; q++) {
      node = static_cast<size_t>(children[node * 256 + b[q]]);
      if (node == 0) break;
      if (terminal[node] >= 0) {
        best = terminal[node];
        best_end = q + 1;
      }
    }
    if (best >= 0) {
      *match_end = best_end;
      *token = best;
      return static_cast<long>(p);
    }
    p++;
  }
  return -1;
}

// ---------------------------------------------------------------------------
// One spare cache slot array and one spare id buffer per thread: an encoder
// built after another was released reuses that memory instead of faulting in
// fresh pages (page faults cost up to ~13 us each on some VMs, about 30 ms for
// an 8 MB cache). Freed directly once the thread's spares are torn down.
namespace {
struct Spares {
  void* mem = nullptr;  // index + entries of a released cache
  size_t mem_log2 = 0;
  uint32_t* ids = nullptr;
  size_t ids_cap = 0;
  ~Spares();
};
thread_local bool t_spares_gone = false;
thread_local Spares t_spares;
Spares::~Spares() {
  std::free(mem);
  std::free(ids);
  mem = nullptr;
  ids = nullptr;
  t_spares_gone = true;
}

// Memory for a table probed at random: 2 MB aligned and marked for
// transparent huge pages where the kernel offers them (fewer TLB misses and
// page faults).
void* alloc_huge(size_t bytes) {
  void* p = nullptr;
  const size_t huge = size_t{2} << 20;
  if (bytes >= huge) {
    const size_t rounded = (bytes + huge - 1) & ~(huge - 1);
    if (posix_memalign(&p, huge, rounded) != 0) return nullptr;
#if defined(MADV_HUGEPAGE)
    madvise(p, rounded, MADV_HUGEPAGE);
#endif
    return p;
  }
  return std::malloc(bytes);
}
}  // namespace

void Cache::init(int slots_log2) {
  const size_t cap = size_t{1} << slots_log2;
  max_entries = cap / 4 * 3;
  const size_t bytes = cap * sizeof(CacheSlot);
  void* mem;
  if (!t_spares_gone && t_spares.mem != nullptr && t_spares.mem_log2 == static_cast<size_t>(slots_log2)) {
    mem = t_spares.mem;
    t_spares.mem = nullptr;
  } else {
    mem = alloc_huge(bytes);
    if (mem == nullptr) throw std::bad_alloc();
  }
  slots = static_cast<CacheSlot*>(mem);
  mask = cap - 1;
  // Touches the table now (building the encoder), not during the first encode.
  std::memset(static_cast<void*>(slots), 0, bytes);
  keys.assign(max_entries * 8, 0);
  vals.assign(max_entries * 2, 0);
  keys_p = keys.data();
  vals_p = vals.data();
  entries = key_top = val_top = 0;
}

void Cache::clear() {
  std::memset(static_cast<void*>(slots), 0, (mask + 1) * sizeof(CacheSlot));
  entries = key_top = val_top = 0;
}

Cache::~Cache() {
  void* mem = slots;
  if (mem == nullptr) return;
  if (!t_spares_gone) {
    std::free(t_spares.mem);
    t_spares.mem = mem;
    size_t log2 = 0;
    while ((size_t{1} << log2) < mask + 1) log2++;
    t_spares.mem_log2 = log2;
  } else {
    std::free(mem);
  }
}

// ---------------------------------------------------------------------------
std::string Encoder::build(int32_t vocab, const int32_t* bti, const int32_t* merges, size_t n_merges,
                           const uint8_t* joinable_in, const uint8_t* sp_bytes, const int32_t* sp_lens,
                           const int32_t* sp_ids, size_t n_specials, int cache_log2) {
  vocab_size = vocab;
  for (int x = 0; x < 256; x++) {
    if (bti[x] >= vocab) return "byteToId holds an id outside the vocabulary";
    byte_to_id[x] = bti[x] < 0 ? -1 : bti[x];
  }
  size_t cap = 16;
  while (cap < n_merges * 2) cap <<= 1;
  mmask = static_cast<uint32_t>(cap - 1);
  mslots.assign(cap, MergeSlot{0, 0, -1, 0});
  for (size_t r = 0; r < n_merges; r++) {
    const int32_t a = merges[3 * r], b = merges[3 * r + 1], c = merges[3 * r + 2];
    if (c < 0 || c >= vocab) return "a merge yields an id outside the vocabulary";
    uint32_t s = mhash(a, b);
    while (mslots[s].rank >= 0 && !(mslots[s].a == a && mslots[s].b == b)) s = (s + 1) & mmask;
    if (mslots[s].rank >= 0) continue;  // a repeated pair keeps its first rank
    mslots[s] = MergeSlot{a, b, static_cast<int32_t>(r), c};
  }
  compact = vocab <= 65536 && n_merges < 65535;
  if (!compact) mfilter.assign((size_t{1} << 20) / 64, 0);
  if (compact) mcompact.assign(cap, 0);
  for (const MergeSlot& m : mslots) {
    if (m.rank < 0) continue;
    // A pair with an id outside the vocabulary can never occur in a word: left out.
    if (m.a < 0 || m.a >= vocab || m.b < 0 || m.b >= vocab) continue;
    const uint32_t h = pair_hash(m.a, m.b);
    if (!compact) {
      const uint32_t f = filter_bit(h);
      mfilter[f >> 6] |= uint64_t{1} << (f & 63);
    } else {
      uint32_t s = h & mmask;
      while (mcompact[s] != 0) s = (s + 1) & mmask;
      mcompact[s] = (static_cast<uint64_t>(static_cast<uint32_t>(m.a) << 16 | static_cast<uint32_t>(m.b)) << 32) |
                    static_cast<uint64_t>(m.rank + 1) << 16 | static_cast<uint32_t>(m.merged);
    }
  }
  const uint64_t no_pair = static_cast<uint64_t>(kNoRank) << 32 | 0xffffffffu;
  byte_pairs.assign(65536, no_pair);
  byte_merged.assign(65536, -1);
  for (int x = 0; x < 256; x++) {
    if (byte_to_id[x] < 0) continue;
    for (int y = 0; y < 256; y++) {
      if (byte_to_id[y] < 0) continue;
      int32_t r, m;
      if (lookup(byte_to_id[x], byte_to_id[y], &r, &m)) {
        byte_pairs[(x << 8) | y] = static_cast<uint64_t>(r) << 32 | static_cast<uint32_t>(m);
        byte_merged[(x << 8) | y] = m;
      }
    }
  }
  byte_merged_p = byte_merged.data();
  // With the compact table the 16-byte one is not needed any more.
  if (compact) std::vector<MergeSlot>().swap(mslots);
  joinable.assign(joinable_in, joinable_in + 65536);
  if (!specials.build(sp_bytes, sp_lens, n_specials)) return "a special token cannot be the empty string";
  special_ids.assign(sp_ids, sp_ids + n_specials);
  special_ids.push_back(0);  // never empty, so the pointer is valid
  special_ids_p = special_ids.data();
  for (size_t t = 0; t < n_specials; t++)
    if (sp_ids[t] < 0 || sp_ids[t] >= vocab) return "a special token id is outside the vocabulary";
  cache.init(cache_log2);
  s_ids.resize(256);
  s_ranks.resize(256);
  s_mids.resize(256);
  return "";
}

Encoder::~Encoder() {
  if (!t_spares_gone && obuf != nullptr && ocap > t_spares.ids_cap) {
    std::free(t_spares.ids);
    t_spares.ids = obuf;
    t_spares.ids_cap = ocap;
  } else {
    std::free(obuf);
  }
}

bool grow_out(Encoder* e, size_t need, size_t keep) {
  if (need <= e->ocap) return true;
  if (e->obuf == nullptr && !t_spares_gone && t_spares.ids != nullptr && t_spares.ids_cap >= need) {
    e->obuf = t_spares.ids;
    e->ocap = t_spares.ids_cap;
    t_spares.ids = nullptr;
    t_spares.ids_cap = 0;
    return true;
  }
  size_t cap = e->ocap < 4096 ? 4096 : e->ocap;
  while (cap < need) cap *= 2;
  uint32_t* p = static_cast<uint32_t*>(std::malloc(cap * 4));
  if (p == nullptr) return false;
  if (keep) std::memcpy(p, e->obuf, keep * 4);
  std::free(e->obuf);
  e->obuf = p;
  e->ocap = cap;
  return true;
}

void trim_out(Encoder* e, size_t limit) {
  if (e->ocap <= limit) return;
  std::free(e->obuf);
  e->obuf = nullptr;
  e->ocap = 0;
}

namespace {

constexpr size_t kHeapAbove = 128;

// Quadratic scans: lowest rank, leftmost on ties (n <= kHeapAbove). Each
// adjacent pair keeps its rank and the id its merge makes, so a merge costs
// two table probes (the new neighbours), the first round none.
long merge_scan(Encoder* e, const uint8_t* b, size_t n, uint32_t* dst) {
  int32_t* ids = e->s_ids.data();
  int32_t* ranks = e->s_ranks.data();
  int32_t* mids = e->s_mids.data();
  for (size_t k = 0; k < n; k++) {
    const int32_t id = e->byte_to_id[b[k]];
    if (id < 0) { e->missing_byte = b[k]; return -1; }
    ids[k] = id;
  }
  size_t len = n;
  const uint64_t* bp = e->byte_pairs.data();
  for (size_t k = 0; k + 1 < len; k++) {
    const uint64_t v = bp[(b[k] << 8) | b[k + 1]];
    ranks[k] = static_cast<int32_t>(v >> 32);
    mids[k] = static_cast<int32_t>(v & 0xffffffffu);
  }
  auto pair = [&](size_t k) {
    int32_t r, m;
    if (e->lookup(ids[k], ids[k + 1], &r, &m)) {
      ranks[k] = r;
      mids[k] = m;
    } else {
      ranks[k] = kNoRank;
      mids[k] = -1;
    }
  };
  while (len > 1) {
    int32_t best = kNoRank;
    size_t at = 0;
    for (size_t k = 0; k + 1 < len; k++) {
      if (ranks[k] < best) { best = ranks[k]; at = k; }
    }
    if (best == kNoRank) break;
    ids[at] = mids[at];
    for (size_t k = at + 1; k + 1 < len; k++) {
      ids[k] = ids[k + 1];
      ranks[k] = ranks[k + 1];
      mids[k] = mids[k + 1];
    }
    len--;
    if (at > 0) pair(at - 1);
    if (at + 1 < len) pair(at);
  }
  for (size_t k = 0; k < len; k++) dst[k] = static_cast<uint32_t>(ids[k]);
  return static_cast<long>(len);
}

// A linked list of parts and a min-heap of (rank << 32 | position), lazily
// invalidated: O(n log n). Ties go to the leftmost position, as in the scan.
long merge_heap(Encoder* e, const uint8_t* b, size_t n, uint32_t* dst) {
  std::vector<int32_t>& ids = e->s_ids;
  std::vector<int32_t>& next = e->s_next;
  std::vector<int32_t>& prev = e->s_prev;
  std::vector<uint64_t>& heap = e->s_heap;
  if (ids.size() < n) { ids.resize(n); e->s_ranks.resize(n); }
  next.resize(n);
  prev.resize(n);
  heap.clear();
  for (size_t k = 0; k < n; k++) {
    const int32_t id = e->byte_to_id[b[k]];
    if (id < 0) { e->missing_byte = b[k]; return -1; }
    ids[k] = id;
    next[k] = k + 1 < n ? static_cast<int32_t>(k + 1) : -1;
    prev[k] = static_cast<int32_t>(k) - 1;
  }
  auto greater = [](uint64_t x, uint64_t y) { return x > y; };
  auto push_pair = [&](int32_t p) {
    const int32_t q = next[p];
    if (q < 0) return;
    const int32_t r = e->rank_of(ids[p], ids[q]);
    if (r == kNoRank) return;
    heap.push_back((static_cast<uint64_t>(r) << 32) | static_cast<uint32_t>(p));
    std::push_heap(heap.begin(), heap.end(), greater);
  };
  for (size_t k = 0; k + 1 < n; k++) {
    const int32_t r = e->rank_of(ids[k], ids[k + 1]);
    if (r != kNoRank) heap.push_back((static_cast<uint64_t>(r) << 32) | k);
  }
  std::make_heap(heap.begin(), heap.end(), greater);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), greater);
    const uint64_t key = heap.back();
    heap.pop_back();
    const int32_t r = static_cast<int32_t>(key >> 32);
    const int32_t p = static_cast<int32_t>(key & 0xffffffffu);
    if (ids[p] < 0) continue;  // removed
    const int32_t q = next[p];
    if (q < 0) continue;
    int32_t mr, mm;
    if (!e->lookup(ids[p], ids[q], &mr, &mm) || mr != r) continue;  // stale
    ids[p] = mm;
    ids[q] = -1;
    const int32_t after = next[q];
    next[p] = after;
    if (after >= 0) prev[after] = p;
    if (prev[p] >= 0) push_pair(prev[p]);
    push_pair(p);
  }
  size_t len = 0;
  for (int32_t k = 0; k >= 0; k = next[k]) dst[len++] = static_cast<uint32_t>(ids[k]);
  return static_cast<long>(len);
}

}  // namespace

long merge_bytes(Encoder* e, const uint8_t* b, size_t n, uint32_t* dst) {
  if (n == 1) {
    const int32_t id = e->byte_to_id[b[0]];
    if (id < 0) { e->missing_byte = b[0]; return -1; }
    dst[0] = static_cast<uint32_t>(id);
    return 1;
  }
  return n <= kHeapAbove ? merge_scan(e, b, n, dst) : merge_heap(e, b, n, dst);
}

long merge_long(Encoder* e, const uint8_t* b, size_t n, uint32_t* dst) {
  const uint8_t* joinable = e->joinable.data();
  size_t start = 0;
  long total = 0;
  for (size_t c = 1; c <= n; c++) {
    if (c < n && joinable[(b[c - 1] << 8) | b[c]] != 0) continue;
    const long k = merge_bytes(e, b + start, c - start, dst + total);
    if (k < 0) return -1;
    total += k;
    start = c;
  }
  return total;
}

long cache_miss(Encoder* e, const uint8_t* b, size_t i, size_t len, uint64_t k0, uint64_t k1, uint64_t h,
                size_t slot, uint32_t* dst) {
  const long n = merge_bytes(e, b + i, len, dst);
  if (n < 0) return n;
  Cache& c = e->cache;
  const uint32_t count = static_cast<uint32_t>(n);
  const bool in_slot = cache_inline(len, count);
  const size_t need_key = len > 16 ? len - 16 : 0;
  const size_t need_val = in_slot ? 0 : count;
  // The id and key arenas start at 2 ids and 8 key bytes per entry and
  // double on demand up to 16 and 32 (4 + 4 MB for 2^18 slots): a small
  // vocabulary splits words into many ids, and arenas that stayed small
  // cleared a 10k-vocabulary cache five times in 200 MB of books.
  const size_t val_max = c.max_entries * 16, key_max = c.max_entries * 32;
  if (c.val_top + need_val > c.vals.size() && c.vals.size() < val_max) {
    c.vals.resize(std::min(val_max, std::max(c.vals.size() * 2, c.val_top + need_val)));
    c.vals_p = c.vals.data();
  }
  if (c.key_top + need_key > c.keys.size() && c.keys.size() < key_max) {
    c.keys.resize(std::min(key_max, std::max(c.keys.size() * 2, c.key_top + need_key)));
    c.keys_p = c.keys.data();
  }
  if (c.entries >= c.max_entries || c.key_top + need_key > c.keys.size() || c.val_top + need_val > c.vals.size()) {
    c.clear();
    c.resets++;
    slot = h & c.mask;
  }
  CacheSlot& s = c.slots[slot];
  s.k0 = k0;
  s.k1 = k1;
  s.count = static_cast<uint8_t>(count);
  s.tag = static_cast<uint16_t>(h >> 48);
  if (in_slot) {
    s.v[0] = dst[0];
    s.v[1] = count > 1 ? dst[1] : 0;
    s.v[2] = count > 2 ? dst[2] : 0;
  } else {
    std::memcpy(c.vals_p + c.val_top, dst, count * 4);
    s.v[0] = static_cast<uint32_t>(c.val_top);
    c.val_top += count;
    if (need_key) {
      std::memcpy(c.keys_p + c.key_top, b + i + 16, need_key);
      s.v[1] = static_cast<uint32_t>(c.key_top);
      c.key_top += need_key;
    }
  }
  s.len = static_cast<uint8_t>(len);  // last: the slot is not empty any more
  c.entries++;
  return n;
}

// ---------------------------------------------------------------------------
void CountTable::init(size_t cap_log2) {
  index.assign(size_t{1} << cap_log2, 0);
  mask = index.size() - 1;
  slots.clear();
  slots.reserve(index.size() / 2);
  size = 0;
  arena.resize(1 << 14);
  arena_top = 0;
  index_p = index.data();
  slots_p = slots.data();
  arena_p = arena.data();
}

void CountTable::clear() {
  std::memset(index.data(), 0, index.size() * sizeof(uint32_t));
  slots.clear();
  size = 0;
  arena_top = 0;
}

void CountTable::insert_new(const uint8_t* b, size_t i, size_t len, uint64_t k0, uint64_t k1, uint64_t h, size_t at) {
  CountSlot s{k0, k1, 1, static_cast<uint32_t>(h), static_cast<uint32_t>(len), 0};
  if (len > 16) {
    const size_t t = len - 16;
    if (arena_top + t > arena.size()) {
      arena.resize(std::max(arena.size() * 2, arena_top + t));
      arena_p = arena.data();
    }
    std::memcpy(arena.data() + arena_top, b + i + 16, t);
    s.tail = arena_top;
    arena_top += t;
  }
  slots.push_back(s);
  slots_p = slots.data();
  index[at] = static_cast<uint32_t>(slots.size());
  if (++size * 2 > index.size()) grow();
}

void CountTable::grow() {
  index.assign(index.size() * 2, 0);
  mask = index.size() - 1;
  index_p = index.data();
  for (size_t e = 0; e < slots.size(); e++) {
    size_t at = slots[e].hash & mask;
    while (index[at] != 0) at = (at + 1) & mask;
    index[at] = static_cast<uint32_t>(e + 1);
  }
}

// ---------------------------------------------------------------------------
namespace {

bool cpu_avx2() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
#else
  return false;
#endif
}

bool cpu_avx512() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return cpu_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
#else
  return false;
#endif
}

std::atomic<const IsaFns*> g_active{nullptr};

}  // namespace

std::vector<const IsaFns*> available_isas() {
  std::vector<const IsaFns*> out{&scalar::fns};
  // The SIMD paths test the standard ASCII ranges; the class table confirms them.
  if (g_ascii_standard && cpu_avx2()) out.push_back(&avx2::fns);
  if (g_ascii_standard && cpu_avx512()) out.push_back(&avx512::fns);
  return out;
}

const IsaFns& active_isa() {
  const IsaFns* f = g_active.load(std::memory_order_acquire);
  if (f == nullptr) {
    f = available_isas().back();
    g_active.store(f, std::memory_order_release);
  }
  return *f;
}

bool select_isa(const char* name) {
  for (const IsaFns* f : available_isas()) {
    if (std::strcmp(f->name, name) == 0) {
      g_active.store(f, std::memory_order_release);
      return true;
    }
  }
  return false;
}

}  // namespace tok
}  // namespace lmp
