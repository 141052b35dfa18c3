#!/bin/bash
# The final code's run set on this box: microbenchmarks (production and embedded taking turns,
# 3 each), feed reads with wrk (embedded paced at 540/s, production paced with 2 API processes),
# and reads with posts in production on freshly seeded data. Run from /tmp.
set -u
OUT=${OUT:-/work/main/bench-results/session8/final}
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
run emb-paced540-1 "" $E --concurrency 16 --rate 540
run emb-paced540-2 "" $E --concurrency 16 --rate 540
run prod-paced600 "$PROD" $P --concurrency 32 --rate 600 --api-processes 2
run prod-paced1000 "$PROD" $P --concurrency 32 --rate 1000 --api-processes 2
run prod-c96-rate1200 "$PROD" $P --concurrency 96 --rate 1200 --api-processes 2
run prod-driver "$PROD" $P --duration 8
for n in 1 2; do
  env $PROD "$ROOST" bench seed --preset small --data-dir $P > "$OUT/seed-$n.txt" 2>&1
  run prod-posts-fresh-$n "$PROD" $P --concurrency 32 --wrk-posts --read-ratio 1 --api-processes $n
done
