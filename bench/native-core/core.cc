// The tokenizer core without Node: the addon's own sources
// (native/src/tokenizer/*.cc) built into a small program that encodes a
// corpus cold (a fresh encoder, so an empty pretoken cache), then warm (the
// cache the cold run filled), then only scans its pretoken boundaries, and
// prints one JSON line. bench/native-core.ts writes the tables it reads
// (dumped from a tokenizer by the TypeScript side, so both use the same
// classes and merges), builds it and runs it.
//
//   core PREFIX CORPUS ISA REPS MAX_BYTES CACHE_LOG2
//
// PREFIX.{classes,bti,merges,joinable,spb,spl,spi,vocab}: the class
// triples, byte -> id, merge triples, joinable byte pairs, special tokens
// (bytes, lengths, ids) and the vocabulary size. Times are this thread's
// CPU time, medians of REPS.
#include "tok_core.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

using namespace lmp::tok;

namespace {

std::vector<char> read_all(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    std::fprintf(stderr, "core: cannot open %s\n", path.c_str());
    std::exit(2);
  }
  std::vector<char> v;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) v.insert(v.end(), buf, buf + n);
  std::fclose(f);
  return v;
}

double thread_ms() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename T>
const T* as(const std::vector<char>& v) {
  return reinterpret_cast<const T*>(v.data());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: core PREFIX CORPUS ISA REPS MAX_BYTES CACHE_LOG2\n");
    return 2;
  }
  const std::string prefix = argv[1], corpus = argv[2], isa = argv[3];
  const int reps = std::max(1, std::atoi(argv[4]));
  const size_t max_bytes = std::strtoull(argv[5], nullptr, 10);
  const int cache_log2 = std::atoi(argv[6]);

  const auto classes = read_all(prefix + ".classes");
  if (!set_classes(as<uint32_t>(classes), classes.size() / 12)) {
    std::fprintf(stderr, "core: bad class table\n");
    return 2;
  }
  if (!select_isa(isa.c_str())) {
    std::fprintf(stderr, "core: this CPU cannot run the %s path\n", isa.c_str());
    return 2;
  }
  const auto bti = read_all(prefix + ".bti"), merges = read_all(prefix + ".merges"), joinable = read_all(prefix + ".joinable");
  const auto sp_bytes = read_all(prefix + ".spb"), sp_lens = read_all(prefix + ".spl"), sp_ids = read_all(prefix + ".spi");
  auto vocab_text = read_all(prefix + ".vocab");
  vocab_text.push_back('\0');
  const int vocab = std::atoi(vocab_text.data());

  const auto text = read_all(corpus);
  // The first max_bytes, cut after a line end (as bench/tokenizer-core.ts cuts).
  size_t n = std::min(text.size(), max_bytes);
  while (n > 0 && n < text.size() && text[n - 1] != '\n') n--;
  const uint8_t* b = reinterpret_cast<const uint8_t*>(text.data());

  std::vector<double> cold, warm, scan;
  std::vector<uint32_t> ends(n + 1);
  long ids = 0;
  uint64_t checksum = 0, resets = 0;
  for (int r = 0; r < reps; r++) {
    Encoder* e = new Encoder();
    const std::string err = e->build(vocab, as<int32_t>(bti), as<int32_t>(merges), merges.size() / 12, as<uint8_t>(joinable),
                                     as<uint8_t>(sp_bytes), as<int32_t>(sp_lens), as<int32_t>(sp_ids), sp_lens.size() / 4, cache_log2);
    if (!err.empty()) {
      std::fprintf(stderr, "core: %s\n", err.c_str());
      return 2;
    }
    double t = thread_ms();
    ids = active_isa().encode(e, b, n);
    cold.push_back(thread_ms() - t);
    if (ids < 0) {
      std::fprintf(stderr, "core: encode failed (%ld)\n", ids);
      return 2;
    }
    resets = e->cache.resets;
    t = thread_ms();
    active_isa().encode(e, b, n);
    warm.push_back(thread_ms() - t);
    if (r == 0) {
      for (long k = 0; k < ids; k++) checksum = checksum * 1000003u + e->obuf[k];
    }
    uint64_t invalid = 0;
    t = thread_ms();
    active_isa().scan(b, n, ends.data(), n + 1, &invalid);
    scan.push_back(thread_ms() - t);
    delete e;
  }
  const double mb = n / 1e6;
  std::printf(
      "{\"isa\":\"%s\",\"bytes\":%zu,\"ids\":%ld,\"checksum\":\"%016llx\",\"cache_log2\":%d,\"cache_resets\":%llu,"
      "\"cold_mb_s\":%.1f,\"warm_mb_s\":%.1f,\"scan_mb_s\":%.1f,\"miss_ms\":%.2f}\n",
      active_isa().name, n, ids, static_cast<unsigned long long>(checksum), cache_log2, static_cast<unsigned long long>(resets),
      mb / (median(cold) / 1e3), mb / (median(warm) / 1e3), mb / (median(scan) / 1e3), median(cold) - median(warm));
  return 0;
}
