#!/bin/bash
# Same-box A/B of reads and posts over HTTP (wrk, one post in three requests, closed loop):
# old tree (PYTHONPATH=$OLD) and the working tree take turns, production then embedded. Run from /tmp.
set -u
OLD=${OLD:-/tmp/old/src}
ROUNDS=${ROUNDS:-2}
OUT=${OUT:-/work/main/bench-results/session5/posts}
ROOST=/work/main/.venv/bin/roost
PROD="ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop"
for round in $(seq "${FIRST:-1}" "$ROUNDS"); do
  for which in old new; do
    path=""; [ "$which" = old ] && path="PYTHONPATH=$OLD"
    for profile in ${PROFILES:-production embedded}; do
      envs="$path"; data=/tmp/roost-bench/small
      [ "$profile" = production ] && envs="$envs $PROD" && data=/tmp/roost-bench/prod-small
      dir="$OUT/$which-$profile-$round"
      mkdir -p "$dir"
      env $envs "$ROOST" bench run --preset small --data-dir "$data" --wrk --wrk-posts --read-ratio 2 \
        --duration 15 --concurrency 16 --out "$dir" > "$dir/log.txt" 2>&1
      [ "$profile" = embedded ] && env $envs /work/main/.venv/bin/python /work/main/scripts/drain_outbox.py "$data" >> "$dir/log.txt" 2>&1
      echo "$(date +%T) $which $profile $round done"
    done
  done
done
