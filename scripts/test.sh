#!/usr/bin/env bash
# The test command (README.md): builds everything, runs the Swift tests (in-process, pipes,
# sockets, the built binary, the corpus), then the editor clients' tests against the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
timeout 1800 swift test --skip-build
if [ -x editors/run-tests.sh ]; then
  timeout 900 editors/run-tests.sh "$(swift build --show-bin-path)/xlchat"
fi
