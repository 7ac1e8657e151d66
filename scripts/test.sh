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
export XLCHAT_BIN="$(swift build --show-bin-path)/xlchat"
timeout 900 bash Tests/mcp/run.sh
if [ -x editors/run-tests.sh ]; then
  timeout 900 editors/run-tests.sh "$XLCHAT_BIN"
fi
