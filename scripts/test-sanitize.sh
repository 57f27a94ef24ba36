#!/usr/bin/env bash
# Builds the addon and the native self-test with AddressSanitizer and
# UndefinedBehaviorSanitizer, then runs the self-test and the native-facing
# vitest suites under them (Node itself is not instrumented, so the runtime is
# preloaded: see ../shared/design/BUILD.md).
set -euo pipefail
cd "$(dirname "$0")/.."
flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g -O1"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

echo "== native self-test under ASan/UBSan"
# CMake takes CXXFLAGS/LDFLAGS from the environment when it first configures a build folder.
export CXXFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined"
rm -rf build-sanitize && mkdir -p build-sanitize
LLMK_NATIVE_BUILD=build-sanitize/native LLMK_CMAKE_ARGS="-DLLMK_CUDA=OFF" \
  ASAN_OPTIONS=detect_leaks=1 bash scripts/test-native.sh --quick

echo "== addon under ASan/UBSan"
npx cmake-js compile -O build-sanitize/addon --CDLLMK_CUDA=OFF --CDCMAKE_BUILD_TYPE=RelWithDebInfo > build-sanitize/addon.log 2>&1 \
  || { tail -40 build-sanitize/addon.log; exit 1; }
unset CXXFLAGS LDFLAGS
npx tsc -p tsconfig.json
LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
ASAN_OPTIONS=detect_leaks=0 \
LLM_KERNELS_BINARY=build-sanitize/addon/Release/llm_kernels.node \
LLM_KERNELS_BACKEND=cpu \
LLMK_SANITIZED=1 \
  npx vitest run
