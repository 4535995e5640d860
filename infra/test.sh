#!/usr/bin/env bash
# The one test command: rustfmt and clippy, every test in the workspace, the
# adapter tests against moto, the browser test in headless Chromium, and
# cfn-lint on template.yaml. Provisions what it needs on a fresh machine (a
# virtualenv under infra/.venv, Debian's chromium), starts and stops its own
# servers on loopback, and fails if anything fails or is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=infra/.venv
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s infra/requirements.txt "$stamp"; then
  echo "infra/test.sh: installing test tools into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r infra/requirements.txt
  cp infra/requirements.txt "$stamp"
fi

# The consent page's browser test drives Debian's Chromium through its
# chromedriver.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "infra/test.sh: installing Debian's chromium and chromium-driver for the browser tests"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q chromium chromium-driver >/dev/null ||
    { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q chromium chromium-driver >/dev/null; }
fi

echo "infra/test.sh: cfn-lint template.yaml"
"$venv/bin/cfn-lint" template.yaml

echo "infra/test.sh: cargo fmt --check, cargo clippy"
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Each function alone, with only the shared crate's features it asks for:
# the workspace build turns every feature on, which would hide a function
# that uses an adapter without asking for it.
for manifest in functions/*/Cargo.toml; do
  cargo clippy --quiet --manifest-path "$manifest" -- -D warnings
done

port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p target
"$venv/bin/python" infra/moto_server.py 127.0.0.1 "$port" >target/moto.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/data.json" 2>/dev/null; then break; fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then cat target/moto.log; echo "moto did not start"; exit 1; fi
  sleep 0.2
done
export TIDINGS_MOTO_ENDPOINT="http://127.0.0.1:$port"

echo "infra/test.sh: cargo test --workspace"
log=target/test-output.log
set +e
cargo test --workspace --all-targets --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  echo "infra/test.sh: tests failed"
  exit "$status"
fi
if grep -E "test result: .* [1-9][0-9]* ignored" "$log" >/dev/null; then
  echo "infra/test.sh: some tests were skipped (ignored); every test must run"
  exit 1
fi
passed=$(grep -Eo "test result: ok\. [0-9]+ passed" "$log" | awk "{ s += \$4 } END { print s }")
echo "infra/test.sh: all $passed tests passed, none skipped; rustfmt- and clippy-clean; template.yaml lint-clean"
