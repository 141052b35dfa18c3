#!/bin/bash
# Alternating A/B of posts with reads at saturation: new (/work/main) vs old (ROOST_SRC=/tmp/s10tree/src), reseeded before each run.
OUT=${OUT:-/tmp/s11/ab-posts}; N=${N:-2}; EXTRA=${EXTRA:-}
export ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop
for n in $(seq 1 $N); do
  for side in new old; do
    src=""; [ $side = old ] && src=/tmp/s10tree/src
    mkdir -p $OUT/$side-$n
    (cd /tmp && PYTHONPATH=$src /work/main/.venv/bin/roost bench seed --preset small --data-dir /tmp/roost-bench/prod-small > $OUT/$side-$n/seed.txt 2>&1)
    ROOST_SRC=$src /tmp/s11/run.sh $OUT/$side-$n prod --wrk --duration 15 --concurrency 32 --wrk-posts --read-ratio 1 --api-processes 2 $EXTRA
  done
done
