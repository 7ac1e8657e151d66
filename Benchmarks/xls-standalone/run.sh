#!/bin/sh
# Release-speed figures for the xls reader without a release build of the whole package.
# 1. Writes a 65,536 x 8 BIFF8 workbook (the debug test keeps a copy when XLS_BENCH_OUT is set).
# 2. Compiles the reader's sources with -O beside a small driver and times reading
#    (a) that workbook and (b) every .xls of ../shared/corpus.
set -e
cd "$(dirname "$0")/../.."
OUT=${TMPDIR:-/tmp}/xls-bench
mkdir -p "$OUT"
if [ ! -f "$OUT/big.xls" ]; then
  XLS_BENCH_OUT="$OUT/big.xls" swift test --skip-build --filter XLSLargeWorkbookTests >/dev/null
fi
S=Sources/XLChatWorkbook
swiftc -O -module-name XLSBench -o "$OUT/xls-bench" \
  $S/Model.swift $S/NumberFormat.swift $S/Temporal.swift $S/WorkbookError.swift $S/WorkbookReader.swift \
  $S/CompoundFile.swift $S/XLSCodePages.swift $S/XLSReader.swift Benchmarks/xls-standalone/main.swift 2>&1 | grep -v warning || true
/usr/bin/time -f "big.xls: %e s wall, %U s user, %S s sys, %M KB peak RSS" "$OUT/xls-bench" "$OUT/big.xls"
/usr/bin/time -f "corpus: %e s wall, %U s user, %S s sys, %M KB peak RSS" "$OUT/xls-bench" ../shared/corpus/files/*.xls
