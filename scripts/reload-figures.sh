#!/usr/bin/env bash
# Reload figures: the time from SIGHUP to "configuration reloaded" (from the gateway's own log
# timestamps), for a route-table change and for a change that also replaces the HTTP listener
# and restarts a webhook outbound, with ROUTES routes in the file. Usage:
#   cargo build --release -p switchyard && scripts/reload-figures.sh [ROUTES] [RELOADS]
set -euo pipefail
routes=${1:-200}
reloads=${2:-20}
bin=${SWITCHYARD_BIN:-target/release/switchyard}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT

config() { # $1: generation, $2: listener too (1/0)
  {
    if [ "$2" = 1 ]; then echo "http: { body_limit: $((1000000 + $1)) }"; fi
    echo "outbounds:"
    echo "  hook: { type: webhook, url: \"http://127.0.0.1:9/$([ "$2" = 1 ] && echo "$1")\" }"
    echo "routes:"
    for i in $(seq 1 "$routes"); do
      echo "  - { name: r$i, from: http, topics: \"t/$i/#\", to: hub }"
    done
    echo "  - { name: gen-$1, from: http, topics: \"g/$1\", to: hook }"
  } >"$dir/config.yaml.next"
  mv "$dir/config.yaml.next" "$dir/config.yaml"
}

config 0 0
SWITCHYARD_HTTP_LISTEN=127.0.0.1:0 "$bin" --config "$dir/config.yaml" --no-watch 2>"$dir/log" &
pid=$!
until grep -q "http listening" "$dir/log"; do sleep 0.05; done
rss_before=$(awk '/VmRSS/ {print $2 " kB"}' "/proc/$pid/status")

measure() { # $1: listener too (1/0); prints the median and the max in ms
  local samples=()
  for n in $(seq 1 "$reloads"); do
    local before
    before=$(grep -c "configuration reloaded" "$dir/log" || true)
    config "$n$1" "$1"
    kill -HUP "$pid"
    until [ "$(grep -c "configuration reloaded" "$dir/log" || true)" -gt "$before" ]; do sleep 0.01; done
  done
  python3 - "$dir/log" "$reloads" <<'PY'
import re, sys, datetime, statistics
lines = open(sys.argv[1]).read().splitlines()
def ts(l): return datetime.datetime.fromisoformat(l.split()[0].replace("Z", "+00:00"))
start = None; took = []
for l in lines:
    if "reloading the configuration" in l: start = ts(l)
    elif "configuration reloaded" in l and start: took.append((ts(l) - start).total_seconds() * 1000); start = None
took = took[-int(sys.argv[2]):]
print(f"{statistics.median(took):.2f} ms median, {max(took):.2f} ms max")
PY
}
echo "routes: $routes, reloads: $reloads each"
echo "route table + outbound unchanged:   $(measure 0)"
echo "route table + webhook + listener:   $(measure 1)"
echo "RSS: $rss_before before, $(awk '/VmRSS/ {print $2 " kB"}' "/proc/$pid/status") after $((2 * reloads)) reloads"
