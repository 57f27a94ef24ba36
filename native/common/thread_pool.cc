#include "thread_pool.h"

#include <cstdlib>
#include <exception>
#include <string>

#include "error.h"

namespace llmk {

namespace {

// Shared between the caller and the helpers it enqueued; helpers may be
// dequeued after the caller has returned, so the state is reference counted.
struct Job {
  size_t n = 0;
  std::function<void(size_t)> fn;
  const std::atomic<bool>* cancel = nullptr;
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::condition_variable done_cv;
  size_t active = 0;  // threads currently inside run()
  std::exception_ptr error;
  bool cancelled = false;

  void run() {
    for (;;) {
      if (cancel && cancel->load(std::memory_order_relaxed)) {
        std::lock_guard<std::mutex> lock(mu);
        cancelled = true;
        next.store(n);
        return;
      }
      size_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
        next.store(n);
        return;
      }
    }
  }
};

std::mutex g_mu;
std::shared_ptr<ThreadPool> g_pool;
size_t g_env_refs = 0;
size_t g_default_threads = 0;  // 0: not yet read from the environment

size_t threads_from_env() {
  const char* v = std::getenv("LLM_KERNELS_THREADS");
  if (v && *v) {
    char* end = nullptr;
    long n = std::strtol(v, &end, 10);
    if (end && *end == '\0' && n >= 1 && n <= 1024) return static_cast<size_t>(n);
  }
  return hardware_threads();
}

}  // namespace

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

size_t ThreadPool::worker_count() {
  std::lock_guard<std::mutex> lock(mu_);
  return workers_.size();
}

void ThreadPool::ensure_workers(size_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  while (workers_.size() < count) workers_.emplace_back([this] { worker_loop(); });
}

void ThreadPool::worker_loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

void ThreadPool::parallel_for(size_t n, size_t threads, const std::function<void(size_t)>& fn,
                              const std::atomic<bool>* cancel) {
  if (n == 0) return;
  auto job = std::make_shared<Job>();
  job->n = n;
  job->fn = fn;
  job->cancel = cancel;
  size_t helpers = std::min(threads, n) - 1;
  if (helpers > 0) {
    ensure_workers(helpers);
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t h = 0; h < helpers; ++h) {
        queue_.emplace_back([job] {
          {
            std::lock_guard<std::mutex> l(job->mu);
            ++job->active;
          }
          job->run();
          std::lock_guard<std::mutex> l(job->mu);
          if (--job->active == 0) job->done_cv.notify_all();
        });
      }
    }
    cv_.notify_all();
  }
  job->run();
  // Helpers that have not started yet find no index left and leave without
  // calling fn, so only the running ones need waiting for.
  std::unique_lock<std::mutex> lock(job->mu);
  job->done_cv.wait(lock, [&] { return job->active == 0; });
  if (job->error) std::rethrow_exception(job->error);
  if (job->cancelled) throw Cancelled();
}

size_t hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

std::shared_ptr<ThreadPool> acquire_pool() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_pool) g_pool = std::make_shared<ThreadPool>();
  return g_pool;
}

void retain_env_pool() {
  std::lock_guard<std::mutex> lock(g_mu);
  ++g_env_refs;
}

void release_env_pool() {
  std::shared_ptr<ThreadPool> last;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_env_refs > 0 && --g_env_refs == 0) last = std::move(g_pool);
  }
  // Joined here, outside the lock, once running jobs drop their references.
}

size_t default_threads() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_default_threads == 0) g_default_threads = threads_from_env();
  return g_default_threads;
}

void set_default_threads(size_t n) {
  if (n < 1 || n > 1024)
    throw range_error("ERR_LLMK_BAD_THREADS", "threads must be an integer in [1, 1024], got " + std::to_string(n));
  std::lock_guard<std::mutex> lock(g_mu);
  g_default_threads = n;
}

void run_parallel(size_t n, size_t threads, const std::function<void(size_t)>& fn,
                  const std::atomic<bool>* cancel) {
  if (threads <= 1 || n <= 1) {
    for (size_t i = 0; i < n; ++i) {
      if (cancel && cancel->load(std::memory_order_relaxed)) throw Cancelled();
      fn(i);
    }
    return;
  }
  acquire_pool()->parallel_for(n, threads, fn, cancel);
}

}  // namespace llmk
