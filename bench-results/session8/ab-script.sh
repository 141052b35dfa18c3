#!/bin/bash
# Same-box A/B of the one-script page reads: "old" is fcebd2c (the read-ahead pull, two round trips
# above 8 celebrities; `git archive fcebd2c src | tar -x -C /tmp/mid`), "new" the working tree.
out=${1:-/work/main/bench-results/session8/ab-script}; rounds=${2:-2}; mkdir -p $out
export ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop
run() {
  local name=$1 ver=$2; shift 2
  local dir=$out/$name-$ver-r$r
  if [ $ver = old ]; then export PYTHONPATH=/tmp/mid/src; else unset PYTHONPATH; fi
  (cd /tmp && /work/main/.venv/bin/roost bench run --preset small --data-dir /tmp/roost-bench/prod-small --wrk --duration 15 --out $dir "$@" > $dir.log 2>&1)
  python3 -c "
import json;d=json.load(open('$dir/wrk-small.json'))
print('$name $ver r$r', round(d['feed_reads_per_second']), 'p50', d['p50_ms'], 'p90', d['p90_ms'], 'p99', d['p99_ms'], 'cpu/read', round(d['server_cpu_ms_per_read'],3))"
}
for r in $(seq 1 $rounds); do
  for ver in old new; do
    run sat1 $ver --concurrency 32 --api-processes 1
    run sat2 $ver --concurrency 32 --api-processes 2
  done
done
