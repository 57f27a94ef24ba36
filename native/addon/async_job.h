// The Promise form of a heavy call: a Napi::AsyncWorker whose Execute() runs a
// plain C++ closure on a libuv thread (which fans out to the thread pool), and
// whose result is built back on the main thread. Typed arrays the closure
// reads or writes are held by references until it completes, and the closure
// never touches a JS value.
#pragma once
#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

namespace llmk::addon {

class AsyncJob : public Napi::AsyncWorker {
 public:
  using Work = std::function<void(const std::atomic<bool>* cancel)>;
  // Builds the resolved value on the main thread; gets the `keep` values back.
  using Finish = std::function<Napi::Value(Napi::Env, const std::vector<Napi::Value>& kept)>;

  // Queues the job and returns its Promise. `keep` lists the JS values the
  // work reads or writes; `cancel` is the flag of a CancelToken (may be null).
  static Napi::Promise Start(Napi::Env env, Work work, Finish finish, const std::vector<Napi::Value>& keep,
                             std::shared_ptr<std::atomic<bool>> cancel);

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  AsyncJob(Napi::Env env, Work work, Finish finish, std::shared_ptr<std::atomic<bool>> cancel);

  Napi::Promise::Deferred deferred_;
  Work work_;
  Finish finish_;
  std::vector<Napi::Reference<Napi::Value>> keep_;
  std::shared_ptr<std::atomic<bool>> cancel_;
  std::exception_ptr error_;
};

// A JS-visible cancel flag: `new CancelToken()`, `token.cancel()`. The TS
// layer raises it from an AbortSignal; kernels poll it between chunks.
class CancelToken : public Napi::ObjectWrap<CancelToken> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit CancelToken(const Napi::CallbackInfo& info);
  std::shared_ptr<std::atomic<bool>> flag() const { return flag_; }

 private:
  Napi::Value JS_cancel(const Napi::CallbackInfo& info);
  std::shared_ptr<std::atomic<bool>> flag_ = std::make_shared<std::atomic<bool>>(false);
};

// The cancel flag of options.cancel (a CancelToken), or null when absent.
std::shared_ptr<std::atomic<bool>> opt_cancel(const Napi::Object& opts);

}  // namespace llmk::addon
