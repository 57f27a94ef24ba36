#!/usr/bin/env bash
# Coverage-guided fuzzing of the native parsers with libFuzzer, AddressSanitizer
# and UBSan (test/fuzz/): kv_decode (KV containers; the fuzz build skips their
# checksums, so mutations reach the tile parsers), bpe_load (encoding files,
# then an encode and a decode with what loaded) and bpe_encode (the built-in
# encodings and four tokenizer.json models on any bytes: round trip, counts,
# text and bytes alike). Not part of `npm test`: a developer's tool, run for
# as long as one likes.
#
#   bash scripts/fuzz.sh [seconds per target (60)] [target ...]
#
# Needs clang with its libFuzzer runtime (Debian: clang-14, libclang-rt-14-dev;
# installed here when missing and running as root) and the compiled dist/ (for
# the seeds). Corpora, logs and any crash inputs go to build-fuzz/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(kv_decode bpe_load bpe_encode)

cxx=$(command -v clang++ || command -v clang++-14 || true)
if [ -z "$cxx" ] && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev > /dev/null)
  cxx=$(command -v clang++-14)
fi
[ -n "$cxx" ] || { echo "clang++ not found (Debian: apt-get install clang-14 libclang-rt-14-dev)"; exit 1; }
[ -f dist/lib/index.js ] || npx tsc -p tsconfig.json

out=build-fuzz
mkdir -p "$out/obj"
flags=(-std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
       -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -I.)
# The library's sources as CMakeLists.txt lists them, the AVX2 ones with their flags.
sources() { sed -n "/^set($1/,/^)/p" CMakeLists.txt | grep -o 'native/[^ )]*\.cc'; }
avx2=$(sources LLMK_AVX2_SOURCES)
objects=()
for src in $(sources LLMK_CORE_SOURCES) $avx2; do
  obj="$out/obj/$(echo "$src" | tr / _).o"
  extra=()
  case "$avx2" in *"$src"*) extra=(-mavx2 -mfma -mf16c) ;; esac
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ]; then "$cxx" "${flags[@]}" "${extra[@]}" -c "$src" -o "$obj"; fi
  objects+=("$obj")
done
node test/fuzz/seeds.mjs "$out/seeds" > /dev/null

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 LLMK_ENCODINGS="$PWD/encodings" LLMK_FUZZ_MODELS="$PWD/$out/seeds/models"
status=0
for t in "${targets[@]}"; do
  mkdir -p "$out/$t/corpus"
  "$cxx" "${flags[@]/fuzzer-no-link/fuzzer}" "test/fuzz/$t.cc" "${objects[@]}" -lpthread -o "$out/$t/fuzz"
  echo "== $t: ${seconds} s"
  if ! (cd "$out/$t" && ./fuzz -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
          corpus "../seeds/$t" > log.txt 2>&1); then
    status=1
    tail -60 "$out/$t/log.txt"
    echo "== $t: FAILED (crash input in $out/$t/)"
    continue
  fi
  grep -E "stat::number_of_executed_units|stat::new_units_added" "$out/$t/log.txt" | tr '\n' ' '
  echo "corpus: $(ls "$out/$t/corpus" | wc -l) inputs"
done
exit $status
