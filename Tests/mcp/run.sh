#!/usr/bin/env bash
# Drives `xlchat mcp` with a real MCP client (PyPI's `mcp`) through pytest.
#   Tests/mcp/run.sh [pytest args...]
# XLCHAT_BIN: the binary (default .build/debug/xlchat; built when missing).
# XLCHAT_MCP_VENV: where the venv with mcp + pytest lives (default /tmp/xlchat-mcp-venv; reused).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${XLCHAT_MCP_VENV:-/tmp/xlchat-mcp-venv}
export XLCHAT_BIN=${XLCHAT_BIN:-$ROOT/.build/debug/xlchat}
if [ ! -x "$XLCHAT_BIN" ]; then
  (cd "$ROOT" && swift build --product xlchat)
fi
if ! "$VENV/bin/python" -c "import mcp, pytest" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q mcp pytest
fi
exec "$VENV/bin/python" -m pytest -q "$ROOT/Tests/mcp" "$@"
