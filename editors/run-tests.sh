#!/usr/bin/env bash
# Runs the editor-client suites (VS Code client via node --test, Neovim headless, Python/Jupyter
# via pytest) against one xlchat binary: `editors/run-tests.sh [XLCHAT_BIN]` (or $XLCHAT_BIN).
# Installs what is missing (apt neovim, pip pytest). Last line: "N passed, N failed".
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="${1:-${XLCHAT_BIN:-$HERE/../.build/debug/xlchat}}"
if [ ! -x "$BIN" ]; then echo "xlchat binary not found or not executable: $BIN"; echo "0 passed, 1 failed"; exit 1; fi
export XLCHAT_BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
PY="${PYTHON:-python3}"
PASSED=0; FAILED=0; SKIPPED=0
LOGDIR="$(mktemp -d)"
trap 'rm -rf "$LOGDIR"' EXIT

need() { command -v "$1" >/dev/null 2>&1; }

# --- VS Code client (node --test) ---------------------------------------------------------
if need node; then
  (cd "$HERE/vscode" && node --test --test-reporter=tap test/ ) > "$LOGDIR/node.log" 2>&1
  sed -n '/^# tests\|^# pass\|^# fail\|^# skipped/p;/^not ok/,/^  \.\.\./p' "$LOGDIR/node.log" | sed 's/^/  [node] /'
  p=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$LOGDIR/node.log"); f=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$LOGDIR/node.log")
  s=$(sed -n 's/^# skipped \([0-9]*\)/\1/p' "$LOGDIR/node.log")
  grep -E '# SKIP' "$LOGDIR/node.log" | sed 's/^/  [node] /'
  if [ -z "$p" ]; then cat "$LOGDIR/node.log"; f=1; p=0; fi
  # node counts skipped tests as passed; report them apart.
  PASSED=$((PASSED + p - ${s:-0})); FAILED=$((FAILED + f)); SKIPPED=$((SKIPPED + ${s:-0}))
else
  echo "  [node] node not found"; FAILED=$((FAILED + 1))
fi

# --- Neovim (headless) ----------------------------------------------------------------------
NVIM="${NVIM:-}"
if [ -z "$NVIM" ]; then
  if need nvim; then NVIM=nvim
  else
    (apt-get install -y neovim >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y neovim >/dev/null 2>&1)) && NVIM=nvim
  fi
fi
if [ -n "$NVIM" ]; then
  (cd "$HERE/.." && timeout 120 "$NVIM" --headless -u NONE -i NONE --cmd "set rtp^=$HERE/nvim" \
      -c "runtime plugin/xlchat.lua" -c "luafile $HERE/nvim/tests/test_xlchat.lua") > "$LOGDIR/nvim.log" 2>&1
  rc=$?
  sed 's/^/  [nvim] /' "$LOGDIR/nvim.log" | grep -E 'not ok|skip -|nvim:|^  \[nvim\]     ' || true
  p=$(grep -c '^ok - ' "$LOGDIR/nvim.log"); f=$(grep -c '^not ok - ' "$LOGDIR/nvim.log"); s=$(grep -c '^skip - ' "$LOGDIR/nvim.log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then cat "$LOGDIR/nvim.log"; f=1; fi
  if ! grep -q '^nvim: ' "$LOGDIR/nvim.log"; then echo "  [nvim] did not finish"; f=$((f + 1)); fi
  PASSED=$((PASSED + p)); FAILED=$((FAILED + f)); SKIPPED=$((SKIPPED + s))
else
  echo "  [nvim] neovim not found and could not be installed"; FAILED=$((FAILED + 1))
fi

# --- Python / Jupyter (pytest) ------------------------------------------------------------
"$PY" -c "import pytest" 2>/dev/null || "$PY" -m pip install -q pytest >/dev/null 2>&1
"$PY" -c "import IPython" 2>/dev/null || "$PY" -m pip install -q ipython >/dev/null 2>&1
(cd "$HERE/jupyter" && "$PY" -m pytest -q -rs -p no:cacheprovider tests) > "$LOGDIR/py.log" 2>&1
rc=$?
grep -E 'SKIPPED|FAILED|ERROR|passed|failed' "$LOGDIR/py.log" | sed 's/^/  [pytest] /'
summary=$(tail -1 "$LOGDIR/py.log")
p=$(echo "$summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+'); f=$(echo "$summary" | grep -oE '[0-9]+ (failed|errors?)' | awk '{s+=$1} END {print s+0}')
s=$(echo "$summary" | grep -oE '[0-9]+ skipped' | grep -oE '[0-9]+')
p=${p:-0}; f=${f:-0}; s=${s:-0}
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then cat "$LOGDIR/py.log"; f=1; fi
PASSED=$((PASSED + p)); FAILED=$((FAILED + f)); SKIPPED=$((SKIPPED + s))

echo "(${SKIPPED} skipped)"
echo "${PASSED} passed, ${FAILED} failed"
[ "$FAILED" -eq 0 ]
