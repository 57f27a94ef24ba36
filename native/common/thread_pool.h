// A blocking thread pool shared by every kernel of the addon.
//
// Workers sleep on a condition variable; nothing ever spins: on a 2-core
// machine with a busy sibling core a spinning pool runs 30x slower.
// parallel_for() lets the calling thread take part, so nested or concurrent
// calls (several AsyncWorkers at once) can never deadlock waiting for workers.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace llmk {

class ThreadPool {
 public:
  ThreadPool() = default;
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Calls fn(i) for every i in [0, n) on up to `threads` threads (the caller
  // included). Returns when all calls are done; rethrows the first exception.
  // When `cancel` becomes true, tasks not yet started are skipped and
  // llmk::Cancelled is thrown.
  void parallel_for(size_t n, size_t threads, const std::function<void(size_t)>& fn,
                    const std::atomic<bool>* cancel = nullptr);

  size_t worker_count();

 private:
  void ensure_workers(size_t count);
  void worker_loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
};

// The process-wide pool and the default parallelism used by async calls.
// Each Node environment (main thread or worker_thread) holds a reference while
// it lives; the last one to go joins the workers so a process never hangs at
// exit with threads still parked.
std::shared_ptr<ThreadPool> acquire_pool();
void release_env_pool();   // called from an environment cleanup hook
void retain_env_pool();    // called when an environment loads the addon
size_t default_threads();  // LLM_KERNELS_THREADS, else hardware cores
void set_default_threads(size_t n);
size_t hardware_threads();

// Runs fn over [0, n) on `threads` threads; threads <= 1 runs inline with no
// pool at all (the synchronous, single-threaded path).
void run_parallel(size_t n, size_t threads, const std::function<void(size_t)>& fn,
                  const std::atomic<bool>* cancel = nullptr);

}  // namespace llmk
