#!/bin/bash
OUT=${OUT:-/tmp/s11/ab-share}
export ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop
for side in ${SIDES:-new old}; do
  src=""; [ $side = old ] && src=/tmp/s10tree/src
  mkdir -p $OUT/$side
  (cd /tmp && PYTHONPATH=$src /work/main/.venv/bin/roost bench seed --preset small --data-dir /tmp/roost-bench/prod-small > $OUT/$side/seed.txt 2>&1)
  python3 /tmp/s11/cpushare.py 3 10 > $OUT/$side/share.txt &
  ROOST_SRC=$src /tmp/s11/run.sh $OUT/$side prod --wrk --duration 15 --concurrency 32 --wrk-posts --read-ratio 1 --api-processes 2 ${EXTRA:-}
  wait
done
