#!/bin/bash
# The final code's run set on this box: microbenchmarks (production and embedded taking turns,
# 3 each), feed reads with wrk (embedded paced at 560/s three times, production with 1 and 2 API
# processes), the Python driver (Redis bytes per entry), and posts with reads on freshly seeded
# production data. Run from /tmp.
set -u
OUT=${OUT:-/work/main/bench-results/session9/final}
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
  env $2 "$ROOST" bench run --preset small --data-dir "$3" "${@:4}" --out "$dir" > "$dir/log.txt" 2>&1
  echo "$(date +%T) $1"
}
E=/tmp/roost-bench/small P=/tmp/roost-bench/prod-small
for n in 1 2 3; do run emb-paced560-$n "" $E --wrk --duration 15 --concurrency 16 --rate 560; done
run prod-1proc-c32 "$PROD" $P --wrk --duration 15 --concurrency 32 --api-processes 1
run prod-paced1000 "$PROD" $P --wrk --duration 15 --concurrency 32 --rate 1000 --api-processes 2
run prod-driver "$PROD" $P --duration 8
env $PROD "$ROOST" bench seed --preset small --data-dir $P > "$OUT/seed.txt" 2>&1
run prod-posts-fresh "$PROD" $P --wrk --duration 15 --concurrency 32 --wrk-posts --read-ratio 1 --api-processes 2
