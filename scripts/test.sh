#!/usr/bin/env bash
# The test command (README.md): builds everything, runs the Swift tests (in-process, pipes,
# sockets, the built binary, the corpus), then the clients that run the built binary: a real MCP
# client (PyPI's mcp) against `xlchat mcp`, and the editor clients' suites.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
# Serially: many tests spawn processes, time cancellations or use the one real model server,
# and a 2-core machine running them all at once makes timing checks flaky.
timeout 1800 swift test --skip-build --no-parallel
# Fuzzing (issue 14): the frame decoder and the xlsx, xls and csv readers, 30 s each, seeded
# from the corpus; a crash fails the run (scripts/fuzz/run.sh says how to keep its input).
timeout 1200 bash scripts/fuzz/run.sh "${XLCHAT_FUZZ_SECONDS:-30}"
export XLCHAT_BIN="$(swift build --show-bin-path)/xlchat"
timeout 900 bash Tests/mcp/run.sh
if [ -x editors/run-tests.sh ]; then
  timeout 900 editors/run-tests.sh "$XLCHAT_BIN"
fi
