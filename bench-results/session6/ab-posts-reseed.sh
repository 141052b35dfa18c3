#!/bin/bash
# Same-box A/B of reads and posts over HTTP in production (wrk, one post in three requests, closed
# loop), old tree (PYTHONPATH=$OLD) and the working tree taking turns. The timelines' key names
# changed (tl2 -> tl3), so before each run the graph is seeded again by the code under test: each
# run starts from the same data, with every active user's timeline materialized. Run from /tmp.
set -u
OLD=${OLD:-/tmp/old2/src}
ROUNDS=${ROUNDS:-2}
OUT=${OUT:-/work/main/bench-results/session6/posts}
ROOST=/work/main/.venv/bin/roost
PROD="ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop"
DATA=/tmp/roost-bench/prod-small
for round in $(seq "${FIRST:-1}" "$ROUNDS"); do
  for which in old new; do
    envs="$PROD"; [ "$which" = old ] && envs="$envs PYTHONPATH=$OLD"
    dir="$OUT/$which-production-$round"
    mkdir -p "$dir"
    env $envs "$ROOST" bench seed --preset small --data-dir "$DATA" > "$dir/seed.txt" 2>&1
    env $envs "$ROOST" bench run --preset small --data-dir "$DATA" --wrk --wrk-posts --read-ratio 2 \
      --duration 15 --concurrency 16 --out "$dir" > "$dir/log.txt" 2>&1
    echo "$(date +%T) $which production $round done"
  done
done
