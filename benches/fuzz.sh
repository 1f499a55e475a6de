#!/usr/bin/env bash
# Fuzzes every parser of outside input (fuzz/fuzz_targets/) with cargo-fuzz (libFuzzer), each
# for SECONDS (default 600), from corpora seeded with the real fixtures, and prints a table:
# target, seconds, executions, corpus size, crashes. A crash leaves its input in
# fuzz/artifacts/<target>/; copy it to fuzz/regressions/<target>/ with the fix, where
# `benches/fuzz.sh --check` (and CI) replays every kept input.
#
#   benches/fuzz.sh [SECONDS] [TARGET...]     fuzz (all targets when none is named)
#   benches/fuzz.sh --build                   build the targets only (CI: they cannot rot)
#   benches/fuzz.sh --check                   build, then run every kept regression input once
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
JOBS="${FUZZ_JOBS:-1}"
TARGETS=(certstream_message ct_entry get_entries static_ct whois_text rdap_json http_head config_toml)

fuzz() { cargo +nightly fuzz "$@"; }

seed() {
  local t="$1" dir="corpus/$1"
  mkdir -p "$dir"
  [ -n "$(ls -A "$dir" 2>/dev/null)" ] && return 0
  local fx=../tests/fixtures
  python3 - "$t" "$dir" "$fx" <<'EOF'
import base64, json, os, pathlib, sys
t, out, fx = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
def put(name, data):
    (out / name).write_bytes(data if isinstance(data, bytes) else data.encode())
entries = json.loads((fx / "ct/live_entries.json").read_text())
if t == "certstream_message":
    put("calidog", (fx / "certstream/calidog_message.json").read_text())
    for i, e in enumerate(entries):
        for form in ("expected_full", "expected_lite", "expected_domains_only"):
            put(f"{i}-{form}", json.dumps(e[form]))
elif t == "ct_entry":
    for i, e in enumerate(entries):
        leaf, extra = base64.b64decode(e["leaf_input"]), base64.b64decode(e["extra_data"])
        put(f"entry-{i}", len(leaf).to_bytes(2, "big") + leaf + extra)
elif t == "get_entries":
    for i in range(0, len(entries), 5):
        body = {"entries": [{"leaf_input": e["leaf_input"], "extra_data": e["extra_data"]} for e in entries[i:i + 5]]}
        put(f"batch-{i}", json.dumps(body))
elif t == "static_ct":
    put("checkpoint", b"\x01fuzz.example/log\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 fuzz.example/log AAAAAAAAAAAA\n")
    for i, e in enumerate(entries[:10]):
        leaf = base64.b64decode(e["leaf_input"])
        # A TileLeaf: timestamp, entry type and the certificate as in the MerkleTreeLeaf,
        # then (extensions) and an empty fingerprint list.
        put(f"tile-{i}", b"\x00" + leaf[2:] + b"\x00\x00")
elif t == "whois_text":
    for p in sorted((fx / "whois/raw").iterdir()):
        put(p.name, p.read_bytes())
elif t == "rdap_json":
    for p in sorted((fx / "rdap").glob("*.json")):
        put(p.name, p.read_bytes())
    put("bootstrap", pathlib.Path("../actors/src/enrich/rdap_bootstrap.json").read_bytes())
elif t == "http_head":
    put("upgrade", "GET /full-stream?since=42 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    put("json", "GET /example.json HTTP/1.0\r\n\r\n")
elif t == "config_toml":
    put("reference", pathlib.Path("../config/certhound.toml").read_text())
    put("env", "[matcher]\nkeywords = [\"paypal\"]\n---\nSTORE__PATH=:memory:\nURLSCAN__PER_MINUTE=5\nNOTIFY__TELEGRAM__CHAT_ID=1\n")
EOF
}

case "${1:-}" in
  --build)
    fuzz build --release
    exit 0
    ;;
  --check)
    fuzz build --release
    status=0
    for t in "${TARGETS[@]}"; do
      [ -d "regressions/$t" ] || continue
      for f in "regressions/$t"/*; do
        [ -f "$f" ] || continue
        if ! "target/x86_64-unknown-linux-gnu/release/$t" "$f" >/dev/null 2>&1; then
          echo "regression: $t $f crashes"
          status=1
        fi
      done
    done
    exit $status
    ;;
esac

SECONDS_EACH="${1:-600}"
shift || true
[ $# -gt 0 ] && TARGETS=("$@")
fuzz build --release
printf '%-20s %8s %14s %8s %8s\n' target seconds executions corpus crashes
for t in "${TARGETS[@]}"; do
  seed "$t"
  log="$(mktemp)"
  mkdir -p "artifacts/$t"
  before=$(ls "artifacts/$t" | wc -l)
  # -error_exitcode stays 77: a crash ends the run; its input is in artifacts/.
  set +e
  # One process writes to $log. With FUZZ_JOBS > 1 libFuzzer's workers write fuzz-<n>.log in
  # this directory instead: then do not run two of these scripts at once.
  parallel=()
  [ "$JOBS" -gt 1 ] && parallel=(-jobs="$JOBS" -workers="$JOBS")
  fuzz run --release "$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" "${parallel[@]}" \
    -print_final_stats=1 -rss_limit_mb=4096 -max_len=65536 >"$log" 2>&1
  set -e
  execs=$( (grep -ho 'stat::number_of_executed_units: *[0-9]*' "$log" fuzz-*.log 2>/dev/null || true) \
    | awk '{s+=$2} END {print s+0}')
  took=$( (grep -ho 'Done [0-9]* runs in [0-9]* second' "$log" || true) | tail -1 | awk '{print $5}')
  crashes=$(( $(ls "artifacts/$t" | wc -l) - before ))
  printf '%-20s %8s %14s %8s %8s\n' "$t" "${took:-$SECONDS_EACH}" "$execs" \
    "$(ls "corpus/$t" | wc -l)" "$crashes"
  [ "$crashes" -gt 0 ] && tail -40 "$log"
  rm -f "$log" fuzz-*.log
done
