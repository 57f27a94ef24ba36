#!/usr/bin/env bash
# Proves the published package works from its prebuilt binary alone: packs the
# tarball (prepack compiles the TypeScript and runs prebuildify), installs it
# in an empty project with a PATH that holds no compiler, make or python —
# once with install scripts and PREBUILDS_ONLY=1, once with --ignore-scripts —
# and imports it there.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f llm-kernels-*.tgz
tgz=$(npm pack --silent 2>/dev/null | tail -1)
listing=$(tar -tzf "$tgz")
echo "packed $tgz: $(du -k "$tgz" | cut -f1) KiB, $(wc -l <<< "$listing") files"
grep -q 'package/prebuilds/linux-x64/.*\.node$' <<< "$listing" || { echo "no linux-x64 prebuild in $tgz"; exit 1; }
for f in LICENSE THIRD_PARTY_NOTICES.md dist/lib/index.js dist/lib/cli.js binding.gyp encodings/o200k_base.bin encodings/models.json; do
  grep -qx "package/$f" <<< "$listing" || { echo "missing $f in $tgz"; exit 1; }
done

root=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
for tool in node npm npx sh; do ln -s "$(command -v $tool)" "$tmp/bin/$tool"; done
for tool in g++ c++ make python3; do
  if PATH="$tmp/bin" command -v $tool >/dev/null; then echo "the restricted PATH still has $tool"; exit 1; fi
done
check='import { info, bleu, Tokenizer } from "llm-kernels";
const i = info();
if (!/prebuilds/.test(i.binaryPath ?? "")) throw new Error("not the prebuilt binary: " + i.binaryPath);
const s = bleu.sentence([[1, 2, 3, 4]], [[[1, 2, 3, 4]]])[0];
if (s !== 1) throw new Error("bad score " + s);
const ids = [...Tokenizer.fromEncoding("cl100k_base").encode("hello world")];
if (ids.join() !== "15339,1917") throw new Error("bad token ids " + ids);
console.log("ok: loaded", i.binaryPath, "cpu path", i.cpuPath);'
for mode in scripts ignore-scripts; do
  dir="$tmp/$mode"
  mkdir "$dir"
  (cd "$dir" && echo '{"name":"consumer","version":"1.0.0","type":"module"}' > package.json)
  flags=()
  [ "$mode" = ignore-scripts ] && flags=(--ignore-scripts)
  (cd "$dir" && PATH="$tmp/bin" PREBUILDS_ONLY=1 npm install --no-audit --no-fund --loglevel=error "${flags[@]}" "$root/$tgz")
  (cd "$dir" && PATH="$tmp/bin" node --input-type=module -e "$check")
  (cd "$dir" && PATH="$tmp/bin" npx --no-install llm-kernels info | head -3)
done
echo "package test passed"
