// Memory-mapped files for the token readers (src/tokenizer/token-reader.ts).
//
// mapFile(path, segmentBytes) maps a whole file read-only into the process
// and returns it as ArrayBuffers of at most `segmentBytes` each (a typed
// array cannot be longer than 2^32 - 1 elements on every Node we support, so
// one buffer per multi-GB file is not an option). The pages are those of the
// OS page cache: nothing is copied, and a batch sampler's random windows cost
// no system call each.
//
// The mapping is MAP_PRIVATE with write permission: a stray write from
// JavaScript then lands in a private copy of that page (the file never
// changes) instead of killing the process with SIGSEGV. Each buffer unmaps its
// pages when it is garbage collected; unmapFile (the reader's close) detaches
// it first, so views on it become empty and nothing can read the pages after.
// A file truncated by another process while mapped raises SIGBUS on access:
// lmpipe's writers never do that (they write a temp file and rename it, and a
// rename leaves the mapped inode as it was).
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lmp {
namespace {

struct Mapping {
  void* data;
  size_t bytes;
};

void unmap(Napi::Env, void*, Mapping* m) {
  munmap(m->data, m->bytes);
  delete m;
}

std::string errno_text(int e) { return std::string(std::strerror(e)); }

// mapFile(path: string, segmentBytes: number) -> ArrayBuffer[]
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber())
    throw Napi::TypeError::New(env, "lmpipe native mapFile: expected (path: string, segmentBytes: number)");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  const double seg_d = info[1].As<Napi::Number>().DoubleValue();
  const long page = sysconf(_SC_PAGESIZE);
  if (!(seg_d >= 1) || seg_d > 9007199254740991.0 || static_cast<double>(static_cast<int64_t>(seg_d)) != seg_d ||
      static_cast<int64_t>(seg_d) % page != 0)
    throw Napi::TypeError::New(env, "lmpipe native mapFile: segmentBytes must be a positive multiple of the page size (" +
                                        std::to_string(page) + ")");
  const uint64_t seg = static_cast<uint64_t>(seg_d);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Napi::Error::New(env, "cannot open " + path + ": " + errno_text(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    close(fd);
    throw Napi::Error::New(env, "cannot stat " + path + ": " + errno_text(e));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  Napi::Array out = Napi::Array::New(env);
  uint32_t k = 0;
  try {
    for (uint64_t off = 0; off < size; off += seg, k++) {
      const size_t len = static_cast<size_t>(size - off < seg ? size - off : seg);
      void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, static_cast<off_t>(off));
      if (p == MAP_FAILED) throw Napi::Error::New(env, "cannot map " + path + ": " + errno_text(errno));
      Mapping* m = new Mapping{p, len};
      out.Set(k, Napi::ArrayBuffer::New(env, p, len, unmap, m));
    }
  } catch (...) {
    close(fd);
    // Segments made so far are unmapped when their buffers are collected.
    throw;
  }
  close(fd);
  return out;
}

// unmapFile(buffers: ArrayBuffer[]): detaches each buffer (views on it become
// empty); its pages are unmapped when the buffer is collected.
Napi::Value UnmapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray())
    throw Napi::TypeError::New(env, "lmpipe native unmapFile: expected (buffers: ArrayBuffer[])");
  Napi::Array a = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    if (!v.IsArrayBuffer()) throw Napi::TypeError::New(env, "lmpipe native unmapFile: element " + std::to_string(i) + " is not an ArrayBuffer");
    Napi::ArrayBuffer b = v.As<Napi::ArrayBuffer>();
    if (!b.IsDetached()) b.Detach();
  }
  return env.Undefined();
}

}  // namespace

void register_map_file(Napi::Env env, Napi::Object exports) {
  exports.Set("mapFile", Napi::Function::New(env, MapFile));
  exports.Set("unmapFile", Napi::Function::New(env, UnmapFile));
}

}  // namespace lmp
