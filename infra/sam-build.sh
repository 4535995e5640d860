#!/usr/bin/env bash
# `sam build` of every function as the README's deploy runs it (arm64,
# cargo-lambda through SAM's rust-cargolambda builder, the release profile),
# then each function's zipped size. Installs what it needs where the
# registries are reachable: SAM CLI and cargo-lambda (with zig, which
# cross-links for arm64) into infra/.sam-venv, and Rust's aarch64 standard
# library. Not part of infra/test.sh: eleven release builds with fat LTO for
# arm64 took 47 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=infra/.sam-venv
if [ ! -x "$venv/bin/sam" ] || [ ! -x "$venv/bin/cargo-lambda" ]; then
  echo "infra/sam-build.sh: installing SAM CLI and cargo-lambda into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check aws-sam-cli cargo-lambda
fi
rustup target add aarch64-unknown-linux-gnu >/dev/null
export PATH="$PWD/$venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0

started=$(date +%s)
sam build --beta-features
echo "infra/sam-build.sh: sam build took $(($(date +%s) - started)) s"

# What Lambda is given: each function's bootstrap, zipped.
for bootstrap in .aws-sam/build/*/bootstrap; do
  "$venv/bin/python" - "$bootstrap" <<'PY'
import io, os, sys, zipfile
path = sys.argv[1]
zipped = io.BytesIO()
with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
    archive.write(path, "bootstrap")
name = os.path.basename(os.path.dirname(path))
print(f"{name:<32} {os.path.getsize(path) / 2**20:6.1f} MB unzipped {len(zipped.getvalue()) / 2**20:6.1f} MB zipped")
PY
done
