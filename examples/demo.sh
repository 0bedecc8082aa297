#!/usr/bin/env bash
# Builds kestrel, loads the bundled Windows/Sysmon sample (examples/data) into an embedded
# SQLite lake, and runs the example hunts against it. Run from the repository root:
#   bash examples/demo.sh [HUNT.hf …]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
kestrel=target/release/kestrel
"$kestrel" ingest examples/data/*.jsonl.gz --into sqlite:///target/demo-lake.db --table winevents --replace --mapping winevent
hunts=("$@")
[ ${#hunts[@]} -gt 0 ] || hunts=(examples/hunts/*.hf)
for hunt in "${hunts[@]}"; do
  echo "== $hunt"
  "$kestrel" run --config examples/kestrel.yaml "$hunt"
  echo
done
