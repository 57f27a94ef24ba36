// Errors raised by the native kernels. They carry a stable code and a kind so
// that the N-API glue can turn them into a JavaScript TypeError/RangeError/Error
// with a `code` property, without the kernels knowing anything about Node.
#pragma once
#include <stdexcept>
#include <string>

namespace llmk {

enum class ErrorKind { Type, Range, Generic };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string code, const std::string& message)
      : std::runtime_error(message), kind_(kind), code_(std::move(code)) {}
  ErrorKind kind() const { return kind_; }
  const std::string& code() const { return code_; }

 private:
  ErrorKind kind_;
  std::string code_;
};

// Thrown when a job's cancel flag was raised (AbortSignal on the JS side).
class Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("the operation was aborted") {}
};

inline Error range_error(const std::string& code, const std::string& message) {
  return Error(ErrorKind::Range, code, message);
}
inline Error type_error(const std::string& code, const std::string& message) {
  return Error(ErrorKind::Type, code, message);
}

}  // namespace llmk
