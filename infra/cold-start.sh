#!/usr/bin/env bash
# Each function built alone as the deployment builds it (the release
# profile, and only the shared crate's features that function asks for),
# for this machine's architecture, then started RUNS times (default 20) by
# `tidings-local cold-start` against a fake of the Lambda runtime API:
# prints each binary's size, zipped size, init time and peak memory. Not
# part of infra/test.sh: eleven release builds with fat LTO take about
# 45 minutes on 2 cores (the first one, with the AWS SDKs, the longest).
set -euo pipefail
cd "$(dirname "$0")/.."

binaries=()
for manifest in functions/*/Cargo.toml; do
  name=$(basename "$(dirname "$manifest")")
  started=$(date +%s)
  cargo build --quiet --release --manifest-path "$manifest"
  echo "infra/cold-start.sh: built $name in $(($(date +%s) - started)) s"
  binaries+=("target/release/$name")
done
cargo run --quiet -p tidings-local -- cold-start --runs "${RUNS:-20}" "${binaries[@]}"
