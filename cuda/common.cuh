// Shared CUDA helpers: error checks that turn CUDA failures into llmk::Error.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "../native/common/error.h"

namespace llmk::cuda {

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw Error(ErrorKind::Generic, "ERR_LLMK_CUDA", std::string(what) + ": " + cudaGetErrorString(err));
}

// Device memory freed on every exit path.
struct DeviceBuffer {
  void* ptr = nullptr;
  explicit DeviceBuffer(size_t bytes) { check(cudaMalloc(&ptr, bytes ? bytes : 1), "cudaMalloc"); }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <class T> T* as() { return static_cast<T*>(ptr); }
};

// Throws unless a device is present (the caller asked for CUDA explicitly).
void require_device();

}  // namespace llmk::cuda
