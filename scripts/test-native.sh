#!/usr/bin/env bash
# Builds and runs the native self-test (native/ and, when nvcc is found, cuda/)
# without Node: every kernel against its reference, every CUDA kernel against
# its CPU twin when a GPU is present. Extra arguments go to llmk_selftest
# (default --quick: checks only, no timings).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${LLMK_NATIVE_BUILD:-build-native}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release ${LLMK_CMAKE_ARGS:-} > /dev/null
cmake --build "$dir" -j "$(nproc)" --target llmk_selftest > /dev/null
"$dir/llmk_selftest" "${@:---quick}"
