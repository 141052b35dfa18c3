#!/bin/bash
# usage: profposts.sh OUT: fresh seed, then py-spy (250 Hz, 10 s) of both API processes and the worker during a posts+reads run
out=$1
export ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop
cd /tmp && /work/main/.venv/bin/roost bench seed --preset small --data-dir /tmp/roost-bench/prod-small > $out.seed.txt 2>&1
/work/main/.venv/bin/roost bench run --preset small --data-dir /tmp/roost-bench/prod-small --wrk --duration 15 --concurrency 32 --wrk-posts --read-ratio 1 --api-processes 2 --out $out > $out.log 2>&1 &
while ! pgrep -x wrk >/dev/null; do sleep 0.2; done
sleep 7
for p in $(for s in $(pgrep -f "roost serve"); do pgrep -P $s; done) $(pgrep -f "roost worker"); do
  /work/main/.venv/bin/py-spy record -r 250 -d 10 -f raw -o $out.$p.raw -p $p --nonblocking >/dev/null 2>&1 &
done
wait
