#!/bin/bash
# After the final commit (c3b0bbf): production reads paced at 1,200/s with 1 API process (5 runs),
# then posts with reads at saturation on freshly seeded data (3 runs). Run from /tmp.
set -u
OUT=${OUT:-/work/main/bench-results/session11/confirm}
ROOST=/work/main/.venv/bin/roost
PROD="ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop"
P=/tmp/roost-bench/prod-small
run() {  # name, arguments
  dir="$OUT/$1"; mkdir -p "$dir"
  env $PROD "$ROOST" bench run --preset small --data-dir $P "${@:2}" --out "$dir" > "$dir/log.txt" 2>&1
  echo "$(date +%T) $1"
}
mkdir -p "$OUT"
env $PROD "$ROOST" bench seed --preset small --data-dir $P > "$OUT/seed-reads.txt" 2>&1
for n in 1 2 3 4 5; do run prod-1proc-paced1200-$n --wrk --duration 15 --concurrency 32 --rate 1200 --api-processes 1; done
for n in 1 2 3; do
  env $PROD "$ROOST" bench seed --preset small --data-dir $P > "$OUT/seed-posts-$n.txt" 2>&1
  run prod-posts-sat-$n --wrk --duration 15 --concurrency 32 --wrk-posts --read-ratio 1 --api-processes 2
done
