#!/usr/bin/env bash
# Installs what scripts/release.sh put in dist/ the way users do, and checks it (as root: it
# installs the .deb with apt). Called by .ci/run after the release build; ends with
# "N passed, N failed" and exits non-zero when one failed.
#   1. the binary: what it links, the commit it was built from
#   2. the .deb: contents, control, Depends against the binary's NEEDED libraries; what apt says
#      on a machine without sqlite3; lintian
#   3. `apt-get install ./dist/xlchat_*.deb`, then from /usr/bin: --version, doctor, query on
#      examples/sales.xlsx, man xlchat, the bash completion
#   4. the wheel in a fresh venv: import xlchat, %load_ext xlchat and a magic against
#      /usr/bin/xlchat; on an older Python, pip's refusal
#   5. the .vsix: editors/vscode/test/vsix.test.js on dist's package with /usr/bin/xlchat
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export DEBIAN_FRONTEND=noninteractive
PASSED=0; FAILED=0
WORK=$(mktemp -d)
FAKE_OLLAMA_PID=
cleanup() {
  [ -n "$FAKE_OLLAMA_PID" ] && kill "$FAKE_OLLAMA_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }
# check NAME COMMAND...: runs it, its output indented on failure.
check() {
  local name=$1; shift
  if out=$("$@" 2>&1); then ok "$name"; else fail "$name"; echo "$out" | sed 's/^/    /' | tail -30; fi
}

BIN=dist/xlchat
DEB=$(ls dist/xlchat_*.deb 2>/dev/null | head -1)
VSIX=$(ls dist/xlchat-*.vsix 2>/dev/null | head -1)
WHEEL=$(ls dist/xlchat-*.whl 2>/dev/null | head -1)
for a in "$BIN" "$DEB" "$VSIX" "$WHEEL"; do
  if [ -n "$a" ] && [ -f "$a" ]; then ok "artifact $a"; else fail "artifact missing in dist/ (run scripts/release.sh)"; fi
done
if [ ! -x "$BIN" ] || [ -z "$DEB" ]; then echo "${PASSED} passed, ${FAILED} failed"; exit 1; fi

# --- 1. the binary --------------------------------------------------------------------------
NEEDED=$(readelf -d "$BIN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
echo "  linked dynamically: $(echo $NEEDED)"
check "binary links only glibc, libstdc++/libgcc_s, zlib, sqlite3, libcurl" \
  bash -c "! echo '$NEEDED' | grep -Ev '^(ld-linux-x86-64|ld-linux-aarch64|libc|libm|libdl|libpthread|librt|libutil|libstdc\+\+|libgcc_s|libz|libsqlite3|libcurl)\.so'"
check "binary: no Swift runtime or Foundation library linked dynamically" \
  bash -c "! ldd '$BIN' | grep -Ei 'swift|Foundation|dispatch|BlocksRuntime|icu'"
VERSION_LINE=$("$BIN" --version)
if COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null); then
  check "--version names the commit ($VERSION_LINE)" bash -c "echo '$VERSION_LINE' | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+ \(commit $COMMIT(\+dirty)?\)$'"
fi

# --- 2. the .deb as a file ------------------------------------------------------------------
CONTENTS=$(dpkg-deb -c "$DEB" | awk '{print $6}')
for f in ./usr/bin/xlchat ./usr/share/man/man1/xlchat.1.gz ./usr/share/bash-completion/completions/xlchat \
  ./usr/share/zsh/vendor-completions/_xlchat ./usr/share/fish/vendor_completions.d/xlchat.fish \
  ./usr/share/doc/xlchat/copyright ./usr/share/doc/xlchat/changelog.gz; do
  check "deb ships $f" bash -c "echo '$CONTENTS' | grep -qx '$f'"
done
DEPENDS=$(dpkg-deb -f "$DEB" Depends)
echo "  Depends: $DEPENDS"
# Each NEEDED library's owner (dpkg -S) must be in Depends: the package that provides it here.
for lib in $NEEDED; do
  # "libz.so.1 => /lib/.../libz.so.1 (0x...)", but the loader's line is "/lib64/ld-linux-x86-64.so.2 (0x...)".
  path=$(ldd "$BIN" | awk -v l="$lib" '$1 == l && $3 ~ /^\// {print $3; exit} $1 ~ "/" l "$" {print $1; exit}')
  owner=
  if [ -n "$path" ]; then
    owner=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "/usr$path" 2>/dev/null)
    owner=${owner%%:*}
  fi
  if [ -n "$owner" ] && echo "$DEPENDS" | tr ',|' '\n\n' | awk '{print $1}' | grep -qxF "$owner"; then
    ok "Depends names $owner (owner of $lib)"
  else
    fail "Depends names ${owner:-the owner of $lib} (owner of $lib at ${path:-?})"
  fi
done
check "deb control: package, version, architecture, maintainer" \
  bash -c "[ \"\$(dpkg-deb -f '$DEB' Package)\" = xlchat ] && [ \"\$(dpkg-deb -f '$DEB' Version)\" = \"\$('$BIN' --version | cut -d' ' -f1)\" ] \
    && [ \"\$(dpkg-deb -f '$DEB' Architecture)\" = \"\$(dpkg --print-architecture)\" ] && [ -n \"\$(dpkg-deb -f '$DEB' Maintainer)\" ]"

# On a machine without sqlite3: a dpkg status with libsqlite3-0 (and what needs it) left out,
# and no archive to fetch it from. apt must refuse with its usual dependency message.
mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial"
python3 scripts/package/status-without.py /var/lib/dpkg/status libsqlite3-0 > "$WORK/apt/status" 2>/dev/null
apt-get install --simulate -o Dir::State::status="$WORK/apt/status" -o Dir::Etc::SourceList=/dev/null \
  -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$WORK/apt/lists" -o Dir::Cache="$WORK/apt/cache" \
  "./$DEB" > "$WORK/nosqlite.log" 2>&1
rc=$?
sed 's/^/    apt: /' "$WORK/nosqlite.log" | grep -E 'Depends|^    apt: E:'
check "without sqlite3 and no archive: apt refuses, naming libsqlite3-0" \
  bash -c "[ $rc -ne 0 ] && grep -Eq '^ xlchat : Depends: libsqlite3-0 .* but it is not installable' '$WORK/nosqlite.log'"
# The same machine with the archive (this machine's apt lists): apt plans to install libsqlite3-0 first.
if ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
  apt-get install --simulate -o Dir::State::status="$WORK/apt/status" "./$DEB" > "$WORK/withrepo.log" 2>&1
  check "without sqlite3, with the archive: apt installs libsqlite3-0 with xlchat" \
    bash -c "grep -Eq '^Inst libsqlite3-0 ' '$WORK/withrepo.log' && grep -Eq '^Inst xlchat ' '$WORK/withrepo.log'"
fi

if ! command -v lintian >/dev/null; then apt-get install -y -qq lintian >/dev/null 2>&1 || true; fi
if command -v lintian >/dev/null; then
  # Run as root here (CI); lintian refuses root without --allow-root.
  lintian --allow-root --info "$DEB" > "$WORK/lintian.log" 2>&1
  sed 's/^/    lintian: /' "$WORK/lintian.log"
  check "lintian: no errors" bash -c "! grep -q '^E:' '$WORK/lintian.log'"
else
  echo "  lintian: not available (apt-get install lintian failed)"
fi

# --- 3. installed with apt, run from /usr/bin -----------------------------------------------
check "apt-get install ./$DEB" apt-get install -y -qq --allow-downgrades --reinstall "./$DEB"
check "xlchat on PATH is /usr/bin/xlchat" bash -c '[ "$(command -v xlchat)" = /usr/bin/xlchat ]'
check "/usr/bin/xlchat --version is dist's ($VERSION_LINE)" bash -c "[ \"\$(/usr/bin/xlchat --version)\" = '$VERSION_LINE' ]"
# A model server for doctor: the scripted Ollama stand-in the editor tests use.
# It runs until its stdin closes: a fifo this script holds open (fd 9) until it ends.
mkfifo "$WORK/ollama.in"
exec 9<>"$WORK/ollama.in"
python3 -u editors/testing/fake_ollama.py < "$WORK/ollama.in" > "$WORK/ollama.out" 2>/dev/null &
FAKE_OLLAMA_PID=$!
for _ in $(seq 100); do grep -q OLLAMA_HOST= "$WORK/ollama.out" && break; sleep 0.1; done
OLLAMA=$(sed -n 's/^OLLAMA_HOST=\(.*\)/\1/p' "$WORK/ollama.out")
(cd "$WORK" && XLCHAT_DATA_DIR="$WORK/data" OLLAMA_HOST="$OLLAMA" XLCHAT_MODEL=fake:latest XLCHAT_EMBED_MODEL= \
  /usr/bin/xlchat doctor) > "$WORK/doctor.log" 2>&1
rc=$?
sed 's/^/    doctor: /' "$WORK/doctor.log"
check "xlchat doctor passes (data dir, SQLite FTS5, model server)" bash -c "[ $rc -eq 0 ] && ! grep -q FAIL '$WORK/doctor.log'"
(cd "$WORK" && XLCHAT_DATA_DIR="$WORK/data" xlchat query "$ROOT/examples/sales.xlsx" \
  'SELECT Region, round(sum(Revenue),2) AS revenue FROM Orders_2024 GROUP BY Region ORDER BY Region') > "$WORK/query.log" 2>&1
rc=$?
sed 's/^/    query: /' "$WORK/query.log"
check "xlchat query examples/sales.xlsx (East 22048.75, as README shows)" \
  bash -c "[ $rc -eq 0 ] && grep -Eq '^East +22048\.75' '$WORK/query.log'"
check "man xlchat" bash -c "[ \"\$(man -w xlchat)\" = /usr/share/man/man1/xlchat.1.gz ] && MANWIDTH=80 man xlchat 2>/dev/null | grep -q 'xlchat doctor\|doctor'"
check "bash completion completes subcommands" bash -c \
  'source /usr/share/bash-completion/completions/xlchat && COMP_WORDS=(xlchat "") && COMP_CWORD=1 && COMP_LINE="xlchat " && COMP_POINT=7 \
   && f=$(complete -p xlchat | sed -n "s/.*-F \([^ ]*\).*/\1/p") && $f xlchat "" xlchat && printf "%s\n" "${COMPREPLY[@]}" | grep -qx doctor'

# --- 4. the wheel in a fresh venv -------------------------------------------------------------
PY=${PYTHON:-python3}
if "$PY" -m venv "$WORK/venv" > "$WORK/venv.log" 2>&1; then
  check "pip install $WHEEL ipython (fresh venv)" "$WORK/venv/bin/pip" install -q "$ROOT/$WHEEL" ipython
  check "import xlchat (from the venv, not the source tree)" bash -c \
    "cd '$WORK' && '$WORK/venv/bin/python' -c 'import xlchat, sys; assert xlchat.__file__.startswith(sys.prefix), xlchat.__file__; print(xlchat.__version__)'"
  cat > "$WORK/magic.ipy" <<EOF
%load_ext xlchat
%xlchat open $ROOT/examples/sales.xlsx
r = %xlchat query SELECT count(*) AS n FROM Orders_2024
assert r.columns == ["n"] and int(list(r)[0][0]) > 0, (r.columns, list(r))
print("query ok:", list(r)[0][0], "orders")
%xlchat close
EOF
  # XLCHAT_BIN unset: the client finds /usr/bin/xlchat by itself.
  (cd "$WORK" && env -u XLCHAT_BIN XLCHAT_DATA_DIR="$WORK/data" "$WORK/venv/bin/ipython" --quick --no-banner --colors=NoColor "$WORK/magic.ipy") > "$WORK/ipython.log" 2>&1
  rc=$?
  sed 's/^/    ipython: /' "$WORK/ipython.log" | head -20
  check "%load_ext xlchat, %xlchat open/query against /usr/bin/xlchat" \
    bash -c "[ $rc -eq 0 ] && ! grep -Eq 'Traceback|Error' '$WORK/ipython.log' && grep -q 'Orders_2024' '$WORK/ipython.log' && grep -q '^query ok: ' '$WORK/ipython.log'"
else
  fail "python3 -m venv"; sed 's/^/    /' "$WORK/venv.log"
fi
MIN=$(unzip -p "$WHEEL" '*.dist-info/METADATA' | sed -n 's/^Requires-Python: >=\([0-9.]*\)$/\1/p')
check "wheel declares Requires-Python >=$MIN" test -n "$MIN"
OLD=
for cand in python3.8 /root/.pyenv/versions/3.8*/bin/python /root/.pyenv/versions/3.7*/bin/python; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c "import sys; sys.exit(sys.version_info >= tuple(map(int, '$MIN'.split('.'))))" 2>/dev/null; then
    OLD=$(command -v "$cand"); break
  fi
done
if [ -n "$OLD" ] && "$OLD" -m venv "$WORK/old" >/dev/null 2>&1; then
  "$WORK/old/bin/pip" install --no-index "$ROOT/$WHEEL" > "$WORK/old.log" 2>&1
  rc=$?
  sed 's/^/    pip (old python): /' "$WORK/old.log" | grep -i 'error'
  check "wheel on $("$OLD" -V 2>&1): pip refuses (requires a different Python)" \
    bash -c "[ $rc -ne 0 ] && grep -q \"requires a different Python: .* not in '>=$MIN'\" '$WORK/old.log'"
else
  # No older interpreter here: pip's own check against an older target version.
  "$PY" -m pip install --dry-run --no-index --no-deps --target "$WORK/t" --python-version 3.8 --only-binary=:all: \
    "$ROOT/$WHEEL" > "$WORK/old.log" 2>&1
  rc=$?
  sed 's/^/    pip --python-version 3.8: /' "$WORK/old.log" | grep -i error
  check "wheel for Python 3.8 (pip --python-version): pip refuses" \
    bash -c "[ $rc -ne 0 ] && grep -q 'requires a different Python' '$WORK/old.log'"
fi

# --- 5. the .vsix -------------------------------------------------------------------------------
if command -v node >/dev/null; then
  (cd editors/vscode && XLCHAT_VSIX="$ROOT/$VSIX" XLCHAT_BIN=/usr/bin/xlchat node --test --test-reporter=tap test/vsix.test.js) > "$WORK/vsix.log" 2>&1
  rc=$?
  grep -E '^(not )?ok ' "$WORK/vsix.log" | sed 's/^/    node: /'
  check "vsix unpacked: manifest = package.json, extension.js loads and runs (node --test)" bash -c "[ $rc -eq 0 ]"
  [ $rc -eq 0 ] || sed 's/^/    /' "$WORK/vsix.log" | tail -30
else
  fail "node not found (the .vsix test needs it)"
fi

echo "package-test: ${PASSED} passed, ${FAILED} failed"
[ "$FAILED" -eq 0 ]
