#include "pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LMP_PAUSE() _mm_pause()
#else
#define LMP_PAUSE() std::this_thread::yield()
#endif

namespace lmp {
namespace {

thread_local bool t_inside = false;
thread_local int t_index = 0;

// How long an idle worker keeps polling for the next job before sleeping.
constexpr auto kSpin = std::chrono::microseconds(60);
constexpr size_t kChunksPerThread = 4;

struct Job {
  RangeFn fn = nullptr;
  void* ctx = nullptr;
  size_t n = 0;
  size_t chunk = 0;
  size_t chunks = 0;
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
};

class Pool {
 public:
  explicit Pool(int threads) { start(threads); }
  ~Pool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int threads) {
    if (threads < 1) threads = 1;
    if (threads == size()) return;
    stop();
    start(threads);
  }

  void run(size_t n, size_t grain, RangeFn fn, void* ctx, size_t max_chunks) {
    if (n == 0) return;
    if (grain < 1) grain = 1;
    size_t chunks = (n + grain - 1) / grain;
    // Several chunks per thread by default: a thread that is descheduled
    // (other processes on the machine) then holds back one small chunk, not
    // half of the work, because running threads take the rest.
    size_t limit = max_chunks ? max_chunks : static_cast<size_t>(size()) * kChunksPerThread;
    if (chunks > limit) chunks = limit;
    if (chunks <= 1 || t_inside || workers_.empty()) {
      bool was = t_inside;
      t_inside = true;
      fn(ctx, 0, n);
      t_inside = was;
      return;
    }
    std::lock_guard<std::mutex> serial(run_mutex_);  // one job at a time
    {
      // Job fields change only while no worker is inside work(); a worker
      // joins a job under `mutex_`, so none can join while they are written.
      std::lock_guard<std::mutex> lk(mutex_);
      while (busy_.load(std::memory_order_acquire) != 0) LMP_PAUSE();
      job_.fn = fn;
      job_.ctx = ctx;
      job_.n = n;
      job_.chunks = chunks;
      job_.chunk = (n + chunks - 1) / chunks;
      job_.next.store(0, std::memory_order_relaxed);
      job_.done.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    t_inside = true;
    work();
    t_inside = false;
    wait_done(chunks);
  }

 private:
  // Waits for the other threads' chunks: spins briefly, then yields the core
  // (the thread we wait for may need it when the machine is oversubscribed).
  void wait_done(size_t chunks) {
    for (int i = 0; job_.done.load(std::memory_order_acquire) < chunks; ++i) {
      if (i < 4096) LMP_PAUSE();
      else std::this_thread::yield();
    }
  }

  void start(int threads) {
    quit_ = false;
    // Workers start from the current generation (read here, not in the new
    // thread, which may first run after a later stop() has bumped it).
    const uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int i = 1; i < threads; ++i) {
      workers_.emplace_back([this, i, gen] { loop(i, gen); });
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(mutex_);
      quit_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  // Takes chunks until none is left.
  void work() {
    for (;;) {
      size_t c = job_.next.fetch_add(1, std::memory_order_relaxed);
      if (c >= job_.chunks) return;
      size_t b = c * job_.chunk;
      size_t e = b + job_.chunk < job_.n ? b + job_.chunk : job_.n;
      if (b < e) job_.fn(job_.ctx, b, e);
      job_.done.fetch_add(1, std::memory_order_release);
    }
  }

  void loop(int index, uint64_t seen) {
    t_inside = true;
    t_index = index;
    for (;;) {
      auto until = std::chrono::steady_clock::now() + kSpin;
      bool fresh = false;
      for (int i = 0;; ++i) {
        if (generation_.load(std::memory_order_acquire) != seen) { fresh = true; break; }
        LMP_PAUSE();
        if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) break;
      }
      {
        std::unique_lock<std::mutex> lk(mutex_);
        if (!fresh) cv_.wait(lk, [&] { return quit_ || generation_.load(std::memory_order_acquire) != seen; });
        if (quit_) return;
        seen = generation_.load(std::memory_order_acquire);
        busy_.fetch_add(1, std::memory_order_acq_rel);
      }
      work();
      busy_.fetch_sub(1, std::memory_order_release);
    }
  }

  std::vector<std::thread> workers_;
  std::mutex run_mutex_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> busy_{0};
  bool quit_ = false;
  Job job_;
};

int default_threads() {
  if (const char* s = std::getenv("LMPIPE_NATIVE_THREADS")) {
    int n = std::atoi(s);
    if (n >= 1) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc >= 1 ? static_cast<int>(hc) : 1;
}

Pool& pool() {
  static Pool* p = new Pool(default_threads());  // never destroyed: workers may outlive static teardown
  return *p;
}

}  // namespace

void parallel_for(size_t n, size_t grain, RangeFn fn, void* ctx, size_t max_chunks) {
  pool().run(n, grain, fn, ctx, max_chunks);
}

int num_threads() { return pool().size(); }

void set_num_threads(int n) { pool().resize(n); }

int thread_index() { return t_index; }

}  // namespace lmp
