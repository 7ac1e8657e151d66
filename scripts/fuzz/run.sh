#!/usr/bin/env bash
# libFuzzer over the parsers that read untrusted bytes (issue 14): the JSON-RPC frame decoder
# and message parser, and the xlsx, xls and csv readers. Each target is compiled with
# `swiftc -sanitize=fuzzer,address` straight from the module sources (SwiftPM cannot build a
# fuzzer executable on Linux), seeded from the corpus (../shared/corpus/files) and the protocol
# transcripts, and run for a bounded time.
#
#   scripts/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 45 s; targets:
#                                                            frames xlsx xls csv)
# A crash leaves its input in .build/fuzz/<target>/crash-*; copy it into
# Tests/XLChatWorkbookTests/FuzzRegressions/ (workbooks) or Tests/JSONRPCTests (frames) and
# add it to the regression test there (FuzzRegressionTests), then fix the reader.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_TARGET=${1:-45}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(frames xlsx xls csv)
OUT=.build/fuzz
CORPUS=../shared/corpus/files
mkdir -p "$OUT"
FLAGS=(-sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6 -Xcc -Wno-everything)

build_frames() {
  local src="$OUT/frames-src"
  rm -rf "$src"; mkdir -p "$src"
  # One module: the files as they are, without the import of the module they are now part of.
  for f in Sources/JSONRPC/FrameDecoder.swift Sources/JSONRPC/JSONParser.swift Sources/XLChatProtocol/JSONValue.swift; do
    sed '/^import XLChatProtocol$/d' "$f" > "$src/$(basename "$f")"
  done
  cp scripts/fuzz/FrameDecoderFuzz.swift "$src/"
  swiftc "${FLAGS[@]}" -module-name FuzzFrames "$src"/*.swift -o "$OUT/fuzz-frames"
}

build_workbook() {  # one binary for every format (XLCHAT_FUZZ_FORMAT picks the extension)
  if [ -x "$OUT/fuzz-workbook" ] && [ -z "$(find Sources/XLChatWorkbook scripts/fuzz/WorkbookFuzz.swift -newer "$OUT/fuzz-workbook" -name '*.swift')" ]; then return; fi
  # ContentHash (swift-crypto) is not needed to read, and swiftc alone cannot see that package.
  local sources=()
  while IFS= read -r f; do [ "$(basename "$f")" = ContentHash.swift ] || sources+=("$f"); done \
    < <(find Sources/XLChatWorkbook -name '*.swift' | sort)
  swiftc "${FLAGS[@]}" -module-name XLChatWorkbook -I Sources/CXLZlib -lz \
    "${sources[@]}" scripts/fuzz/WorkbookFuzz.swift -o "$OUT/fuzz-workbook"
}

seed() {  # $1: target; fills $OUT/$1/seeds
  local dir="$OUT/$1/seeds" transcript
  mkdir -p "$dir"
  case "$1" in
    frames)
      # Each transcript line as an NDJSON message and as a Content-Length frame.
      for transcript in protocol/transcripts/*.jsonl; do
        python3 - "$transcript" "$dir" <<'PY'
import json, sys, os
src, out = sys.argv[1], sys.argv[2]
for i, line in enumerate(open(src, encoding="utf-8")):
    line = line.strip()
    if not line: continue
    try: msg = json.loads(line)
    except Exception: continue
    if "->" not in msg: continue
    body = json.dumps(msg["->"]).encode()
    base = os.path.join(out, os.path.basename(src) + f".{i}")
    open(base + ".nd", "wb").write(bytes([7]) + body + b"\n")
    open(base + ".cl", "wb").write(bytes([13]) + b"Content-Length: %d\r\n\r\n" % len(body) + body)
PY
      done ;;
    xlsx) cp "$CORPUS"/*.xlsx "$CORPUS"/*.xlsm "$dir"/ 2>/dev/null || true ;;
    xls)  cp "$CORPUS"/*.xls "$dir"/ 2>/dev/null || true ;;
    csv)  cp "$CORPUS"/*.csv "$CORPUS"/*.tsv "$dir"/ 2>/dev/null || true ;;
  esac
  # Large seeds slow every run down; libFuzzer mutates small inputs best.
  find "$dir" -type f -size +512k -delete
  if [ -z "$(ls -A "$dir")" ]; then
    echo "fuzz: no seeds for $1 (is ../shared/corpus there?)" >&2
    exit 1
  fi
}

status=0
for t in "${TARGETS[@]}"; do
  echo "fuzz: building $t"
  if [ "$t" = frames ]; then build_frames; bin=../fuzz-frames; else build_workbook; bin=../fuzz-workbook; fi
  seed "$t"
  mkdir -p "$OUT/$t/work"
  echo "fuzz: running $t for ${SECONDS_PER_TARGET}s"
  if ! (cd "$OUT/$t" && XLCHAT_FUZZ_FORMAT="$t" ASAN_OPTIONS=detect_leaks=0 "$bin" -max_total_time="$SECONDS_PER_TARGET" \
        -max_len=262144 -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 work seeds > log.txt 2>&1); then
    echo "fuzz: $t FOUND A FAILURE; see $OUT/$t/log.txt and $OUT/$t/crash-*" >&2
    tail -30 "$OUT/$t/log.txt" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$OUT/$t/log.txt" | tail -2
  fi
done
exit $status
