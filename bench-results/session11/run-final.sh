#!/bin/bash
# The final code's run set on this box (session 11): microbenchmarks (production and embedded taking
# turns), feed reads with wrk (embedded paced at 560/s; production with 1 API process, saturated and
# paced at 1,200/s five times), the Python driver (Redis bytes per entry), and posts with reads on
# freshly seeded production data, at saturation and paced (3 each). Run from /tmp.
set -u
OUT=${OUT:-/work/main/bench-results/session11/final}
MICRO_ROUNDS=${MICRO_ROUNDS:-2}
ROOST=/work/main/.venv/bin/roost
PROD_M="ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench_m ROOST_REDIS_URL=redis://127.0.0.1:6379/7 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop"
PROD="ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop"
for round in $(seq 1 "$MICRO_ROUNDS"); do
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
env $PROD "$ROOST" bench seed --preset small --data-dir $P > "$OUT/seed-reads.txt" 2>&1
for n in 1 2 3; do run emb-paced560-$n "" $E --wrk --duration 15 --concurrency 16 --rate 560; done
run prod-1proc-c32 "$PROD" $P --wrk --duration 15 --concurrency 32 --api-processes 1
for n in 1 2 3 4 5; do run prod-1proc-paced1200-$n "$PROD" $P --wrk --duration 15 --concurrency 32 --rate 1200 --api-processes 1; done
run prod-driver "$PROD" $P --duration 8
for n in 1 2 3; do
  env $PROD "$ROOST" bench seed --preset small --data-dir $P > "$OUT/seed-posts-$n.txt" 2>&1
  run prod-posts-sat-$n "$PROD" $P --wrk --duration 15 --concurrency 32 --wrk-posts --read-ratio 1 --api-processes 2
  env $PROD "$ROOST" bench seed --preset small --data-dir $P > "$OUT/seed-paced-$n.txt" 2>&1
  run prod-posts-paced-$n "$PROD" $P --wrk --duration 15 --concurrency 32 --wrk-posts --read-ratio 1 --rate 540 --api-processes 2
done
