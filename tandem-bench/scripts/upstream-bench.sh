#!/usr/bin/env bash
# upstream-bench.sh: llama-server alone against llama-servers behind 'tandem serve --upstream', side by side.
#
#   usage: tandem-bench/scripts/upstream-bench.sh OUT_DIR [ROUNDS=2] [PARTS=routing,latency]
#          (PARTS: any of routing, latency, capacity, comma-separated)
#
# Per round, each configuration runs on freshly started llama-servers (empty caches), one after the
# other, the same workloads each: conversations and shared-prefix (bench serve), then the added
# latency (random token-id prompts, one request at a time):
#   single  one llama-server, called directly
#   kv      two llama-servers behind tandem serve --router kv
#   rr      two llama-servers behind tandem serve --router round-robin
#   direct1 / tandem1   one llama-server alone and the same server behind tandem serve, alternately (latency)
# Every llama-server: stories260K, 1 thread, 4 slots of 2,048 positions, --metrics.
# capacity: single, kv and rr again, on llama-servers whose cache is bounded by their slots
# (--parallel 2 -c 4096 --cache-ram 0: no prompt cache in host memory, each server holds the KV of
# 2 sequences), with conversations as many as the two servers' slots (4) and twice as many (8),
# each with its own 300-word system prompt (so a turn that misses the cache recomputes ~1,000 tokens);
#   single4 one llama-server with both servers' slots (--parallel 4 -c 8192 --cache-ram 0), directly
# Environment: TANDEM_SHARED (default: ../shared next to the checkout), TANDEM_MODEL.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${1:?usage: upstream-bench.sh OUT_DIR [ROUNDS]}
ROUNDS=${2:-2}
PARTS=${3:-routing,latency}
SHARED=${TANDEM_SHARED:-$ROOT/../shared}   # the models/ and tools/ folders next to the checkout
MODEL=${TANDEM_MODEL:-$SHARED/models/stories260K.gguf}
LS=$("$SHARED/tools/llamacpp/server.sh" --path)
mkdir -p "$OUT"
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
    PIDS=()
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_url() { for _ in $(seq 1 600); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "no answer at $1" >&2; exit 1; }
LLAMA_CACHE=(--parallel 4 -c 8192)   # the capacity part bounds it
llama() {  # llama VAR: starts a llama-server, sets VAR to its URL
    local port; port=$(free_port)
    "$LS" -m "$MODEL" --host 127.0.0.1 --port "$port" -t 1 "${LLAMA_CACHE[@]}" --metrics > "$OUT/llama-$port.log" 2>&1 &
    PIDS+=($!); wait_url "http://127.0.0.1:$port/health"; printf -v "$1" 'http://127.0.0.1:%s' "$port"
}
serve() {  # serve VAR ROUTER URL...: starts tandem serve in front of the URLs, sets VAR to its URL
    local var=$1 router=$2; shift 2; local port; port=$(free_port); local args=()
    for u in "$@"; do args+=(--upstream "$u"); done
    TANDEM_NO_BUILD=1 "$ROOT/bin/tandem" serve --model "$MODEL" --port "$port" --router "$router" "${args[@]}" \
        > "$OUT/serve-$port.log" 2>&1 &
    PIDS+=($!); wait_url "http://127.0.0.1:$port/health"; printf -v "$var" 'http://127.0.0.1:%s' "$port"
}
bench() {  # bench NAME URL ARGS...
    local name=$1 url=$2; shift 2
    TANDEM_NO_BUILD=1 "$ROOT/bin/tandem" bench serve --url "$url" --quiet --json "$@" > "$OUT/$name.json"
}
workloads() {  # workloads CONFIG ROUND URL
    bench "$1-conversations-$2" "$3" --workload conversations --conversations 8 --turns 5 --concurrency 8
    bench "$1-shared-prefix-$2" "$3" --workload shared-prefix --groups 4 --requests-per-group 8 --concurrency 8
}
capacity() {  # capacity CONFIG ROUND CONVERSATIONS URL
    bench "$1-capacity$3-$2" "$4" --workload conversations --conversations "$3" --turns 6 --system-words 300 --concurrency 4 --seed "$2"
}

for r in $(seq 1 "$ROUNDS"); do
  if [[ $PARTS == *routing* ]]; then
    llama u; workloads single "$r" "$u"; cleanup
    llama a; llama b; serve t kv "$a" "$b"; workloads kv "$r" "$t"; cleanup
    llama a; llama b; serve t round-robin "$a" "$b"; workloads rr "$r" "$t"; cleanup
  fi
  if [[ $PARTS == *latency* ]]; then
    # added latency: the same llama-server alone and behind tandem serve, alternately, one request at
    # a time, each run its own prompts (seeds) so that neither finds the other's in the cache
    llama u; serve t kv "$u"
    bench "warmup-$r" "$t" --workload random --requests 300 --input-len 64 --output-len 8 --concurrency 1 \
        --prompt-form tokens --seed "$r"99   # the JIT's warm-up of Tandem's path, not counted
    for k in 1 2; do
        bench "direct1-latency-$r$k" "$u" --workload random --requests 200 --input-len 64 --output-len 8 \
            --concurrency 1 --prompt-form tokens --seed "$r$k"1
        bench "tandem1-latency-$r$k" "$t" --workload random --requests 200 --input-len 64 --output-len 8 \
            --concurrency 1 --prompt-form tokens --seed "$r$k"2
    done
    cleanup
  fi
  if [[ $PARTS == *capacity* ]]; then
    LLAMA_CACHE=(--parallel 2 -c 4096 --cache-ram 0)
    for n in 4 8; do   # as many conversations as the two servers' slots, then twice as many
      llama u; capacity single "$r" "$n" "$u"; cleanup
      LLAMA_CACHE=(--parallel 4 -c 8192 --cache-ram 0)   # the pair's slots in one server: the ceiling
      llama u; capacity single4 "$r" "$n" "$u"; cleanup
      LLAMA_CACHE=(--parallel 2 -c 4096 --cache-ram 0)
      llama a; llama b; serve t kv "$a" "$b"; capacity kv "$r" "$n" "$t"; cleanup
      llama a; llama b; serve t round-robin "$a" "$b"; capacity rr "$r" "$n" "$t"; cleanup
    done
    LLAMA_CACHE=(--parallel 4 -c 8192)
  fi
done
echo "results in $OUT" >&2
