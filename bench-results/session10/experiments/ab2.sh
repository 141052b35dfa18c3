#!/bin/bash
# A/B of two trees A and B (PYTHONPATH), posts+reads, fresh seed each run
set -u
OUT=$1; ROUNDS=$2; A=$3; B=$4
ROOST=/work/main/.venv/bin/roost
PROD="ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop"
P=/tmp/roost-bench/prod-small
mkdir -p "$OUT"
for round in $(seq 1 "$ROUNDS"); do
  for which in A B; do
    tree=$A; [ $which = B ] && tree=$B
    env $PROD "$ROOST" bench seed --preset small --data-dir $P > "$OUT/seed-$which-$round.txt" 2>&1
    dir="$OUT/$which-$round"; mkdir -p "$dir"
    env $PROD PYTHONPATH=$tree "$ROOST" bench run --preset small --data-dir $P --wrk --duration 15 --concurrency 32 \
      --wrk-posts --read-ratio 1 --api-processes 2 --out "$dir" > "$dir/log.txt" 2>&1
    python3 -c "
import json,glob; d=json.load(open(glob.glob('$dir/wrk-*.json')[0])); f=d['fanout_freshness']
posts=d['posts_per_second']*d['duration_s']
print('$which-$round $tree', f\"posts/s={d['posts_per_second']:.1f} p99={d['p99_ms']:.0f}ms api_cpu/(read+post)={d['server_cpu_ms_per_read']*2:.2f}ms worker_cpu/post={1000*d['workers_cpu_seconds']/posts:.2f}ms fresh_p50={f['p50_ms']} fresh_p99={f['p99_ms']} within1s={f['share_within_1s']}\")" | tee -a "$OUT/summary.txt"
  done
done
