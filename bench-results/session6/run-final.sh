#!/bin/bash
# The final code's run set: microbenchmarks (embedded and production taking turns, 3 each), then
# feed reads with wrk (embedded saturated and paced at 500/s, production with 1 and 2 API
# processes) and paced reads and posts in production. Run from /tmp.
set -u
OUT=${OUT:-/work/main/bench-results/session6/final}
ROOST=/work/main/.venv/bin/roost
PROD_M="ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench_m ROOST_REDIS_URL=redis://127.0.0.1:6379/7 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop"
PROD="ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop"
for round in 1 2 3; do
  for profile in production embedded; do
    envs=""; [ "$profile" = production ] && envs="$PROD_M"
    dir="$OUT/micro-$profile-$round"; mkdir -p "$dir"
    env $envs "$ROOST" bench micro --out "$dir" > "$dir/log.txt" 2>&1
    echo "$(date +%T) micro $profile $round"
  done
done
run() {  # name, environment, data dir, arguments
  dir="$OUT/$1"; mkdir -p "$dir"
  env $2 "$ROOST" bench run --preset small --data-dir "$3" --wrk --duration 15 --out "$dir" "${@:4}" > "$dir/log.txt" 2>&1
  echo "$(date +%T) $1"
}
E=/tmp/roost-bench/small P=/tmp/roost-bench/prod-small
run emb-sat "" $E --concurrency 32
run emb-paced500-1 "" $E --concurrency 16 --rate 500
run emb-paced500-2 "" $E --concurrency 16 --rate 500
run prod-sat-1proc "$PROD" $P --concurrency 32 --api-processes 1
run prod-sat-2proc "$PROD" $P --concurrency 32 --api-processes 2
run prod-posts-paced150 "$PROD" $P --concurrency 16 --wrk-posts --read-ratio 2 --rate 150
