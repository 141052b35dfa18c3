#!/bin/bash
# Same-box A/B of `roost bench micro`: old tree (PYTHONPATH=$OLD) and the working tree take turns,
# production then embedded, $ROUNDS rounds. Run from /tmp.
set -u
OLD=${OLD:-/tmp/old/src}
ROUNDS=${ROUNDS:-2}
OUT=${OUT:-/work/main/bench-results/session6/micro}
ROOST=/work/main/.venv/bin/roost
PROD="ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench_m ROOST_REDIS_URL=redis://127.0.0.1:6379/7 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop"
for round in $(seq "${FIRST:-1}" "$ROUNDS"); do
  for which in old new; do
    path=""; [ "$which" = old ] && path="PYTHONPATH=$OLD"
    for profile in ${PROFILES:-production embedded}; do
      envs="$path"; [ "$profile" = production ] && envs="$envs $PROD"
      dir="$OUT/$which-$profile-$round"
      mkdir -p "$dir"
      env $envs "$ROOST" bench micro --out "$dir" > "$dir/log.txt" 2>&1
      echo "$(date +%T) $which $profile $round done"
    done
  done
done
