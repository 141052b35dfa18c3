#!/bin/bash
out=$1
export ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop
cd /tmp && /work/main/.venv/bin/roost bench run --preset small --data-dir /tmp/roost-bench/prod-small --wrk --duration 15 --concurrency 32 --rate 1000 --api-processes 1 --out $out > $out.log 2>&1 &
for i in $(seq 300); do pgrep -x wrk >/dev/null && break; sleep 0.2; done
sleep 4
for p in $(pgrep -f "roost serve") $(for s in $(pgrep -f "roost serve"); do pgrep -P $s; done); do
  /work/main/.venv/bin/py-spy record -r 200 -d 10 -f raw -o $out.$p.raw -p $p --nonblocking >/dev/null 2>&1 &
done
wait
