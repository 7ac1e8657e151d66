#!/usr/bin/env bash
# Builds what a user installs, into dist/ (git-ignored):
#   dist/xlchat                      the release binary: Swift runtime and Foundation linked in
#                                    (--static-swift-stdlib), stripped, the git commit embedded
#   dist/xlchat_VERSION_ARCH.deb     /usr/bin/xlchat, completions, man page (scripts/package/deb.sh)
#   dist/xlchat-VERSION.vsix         the VS Code extension (scripts/package/vsix.py)
#   dist/xlchat-VERSION-py3-none-any.whl   the Python / Jupyter client (python -m build)
# and prints what the binary links dynamically, its size and its start time.
#
#   bash scripts/release.sh            (JOBS=2 to build with both cores; default 1)
#   SKIP_BUILD=1 bash scripts/release.sh   repackage the binary already built
#   SCRATCH=.build-release bash scripts/release.sh   build in another folder (default: .build)
#
# The binary's dynamic libraries must stay within ALLOWED below: a new one fails the script,
# so a dependency cannot creep in unnoticed. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-1}
VERSION=$(sed -n 's/^ *public static let current = "\(.*\)"$/\1/p' Sources/XLChatServer/ServerConfiguration.swift)
[ -n "$VERSION" ] || { echo "release: cannot read XLChatVersion.current" >&2; exit 1; }
say() { echo "release: $*"; }

# --- the commit, embedded (see Sources/XLChatServer/BuildInfo.swift) --------------------------
if COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null); then
  git diff --quiet HEAD -- 2>/dev/null || COMMIT="$COMMIT+dirty"
else
  COMMIT="unknown"
fi
GEN=Sources/XLChatServer/BuildInfo.generated.swift
cat > "$GEN.tmp" <<EOF
// Written by scripts/release.sh; git-ignored. Compiled only with -DXLCHAT_RELEASE_BUILD_INFO.
#if XLCHAT_RELEASE_BUILD_INFO
enum XLChatBuildInfo {
    static let commit: String? = "$COMMIT"
}
#endif
EOF
# Rewritten only when it changes, so a second run does not recompile the server module.
if cmp -s "$GEN.tmp" "$GEN"; then rm "$GEN.tmp"; else mv "$GEN.tmp" "$GEN"; fi

# --- the release binary ---------------------------------------------------------------------
# Swift's static FoundationNetworking (URLSession, used for https model servers) links -lcurl:
# the build needs libcurl4-openssl-dev (scripts/ci-package.sh installs it); the binary, libcurl4.
BUILD_FLAGS=(-c release --product xlchat --static-swift-stdlib -Xswiftc -DXLCHAT_RELEASE_BUILD_INFO
  --scratch-path "${SCRATCH:-.build}")
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "building xlchat $VERSION ($COMMIT), release, -j $JOBS"
  t0=$(date +%s)
  swift build "${BUILD_FLAGS[@]}" -j "$JOBS"
  say "release build took $(( $(date +%s) - t0 )) s"
fi
BIN_DIR=$(swift build "${BUILD_FLAGS[@]}" --show-bin-path)
mkdir -p dist
rm -f dist/xlchat dist/xlchat_*.deb dist/xlchat-*.vsix dist/xlchat-*.whl
cp "$BIN_DIR/xlchat" dist/xlchat
unstripped=$(stat -c %s dist/xlchat)
strip --strip-all dist/xlchat
size=$(stat -c %s dist/xlchat)

# --- what it links dynamically ----------------------------------------------------------------
# glibc (libc, libm, ld-linux...), the C++ runtime (libstdc++, libgcc_s), zlib, SQLite; and
# libcurl: FoundationNetworking's URLSession talks https to model servers (Sources/XLChatLLM/
# HTTPTransport.swift; plain http goes over SwiftNIO) and Swift's static FoundationNetworking
# still links the system's libcurl (libcurl4) dynamically. See README "Install".
ALLOWED='^(linux-vdso|ld-linux-x86-64|ld-linux-aarch64|libc|libm|libdl|libpthread|librt|libutil|libstdc\+\+|libgcc_s|libz|libsqlite3|libcurl)\.so'
needed=$(readelf -d dist/xlchat | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
say "linked dynamically (NEEDED): $(echo $needed)"
bad=$(echo "$needed" | grep -Ev "$ALLOWED" || true)
if [ -n "$bad" ]; then
  echo "release: FAIL: unexpected dynamic libraries: $(echo $bad) (keep to glibc, libstdc++, zlib, sqlite3, libcurl; see scripts/release.sh)" >&2
  exit 1
fi
missing=$(ldd dist/xlchat | grep 'not found' || true)
[ -z "$missing" ] || { echo "release: FAIL: $missing" >&2; exit 1; }
say "ldd (with what those pull in): $(ldd dist/xlchat | wc -l) libraries"

# --- size and start time ----------------------------------------------------------------------
say "size: $size bytes ($(( size / 1048576 )) MiB) stripped, $unstripped bytes before strip"
say "version: $(dist/xlchat --version)"
python3 - dist/xlchat <<'EOF'
import statistics, subprocess, sys, time
times = []
for _ in range(11):
    t0 = time.perf_counter()
    subprocess.run([sys.argv[1], "--version"], check=True, stdout=subprocess.DEVNULL)
    times.append((time.perf_counter() - t0) * 1000)
times = times[1:]  # the first run pays for the page cache
print(f"release: start time (xlchat --version): median {statistics.median(times):.1f} ms of 10 "
      f"(min {min(times):.1f}, max {max(times):.1f}; target <= 20 ms)")
EOF

# --- packages ---------------------------------------------------------------------------------
bash scripts/package/deb.sh dist/xlchat "$VERSION" dist
python3 scripts/package/vsix.py --out dist
if ! python3 -c 'import build' 2>/dev/null; then
  say "installing PyPI's build (python -m build)"
  python3 -m pip install -q build
fi
rm -rf editors/jupyter/build editors/jupyter/*.egg-info
python3 -m build --wheel --outdir dist editors/jupyter > /tmp/xlchat-wheel-build.log 2>&1 \
  || { cat /tmp/xlchat-wheel-build.log; exit 1; }
rm -rf editors/jupyter/build editors/jupyter/*.egg-info
say "artifacts:"
ls -l dist | sed 's/^/  /'
