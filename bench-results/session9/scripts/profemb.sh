#!/bin/bash
out=$1; shift
cd /tmp && /work/main/.venv/bin/roost bench run --preset small --data-dir /tmp/roost-bench/small --wrk --duration 15 --out $out "$@" > $out.log 2>&1 &
for i in $(seq 1 60); do sleep 1; pids=$(pgrep -f "roost serve" | tr '\n' ' '); [ -n "$pids" ] && break; done
sleep 14
for p in $(pgrep -f "roost serve"); do
  /work/main/.venv/bin/py-spy record -r 250 -d 10 -f raw -o $out.$p.raw -p $p --nonblocking >/dev/null 2>&1 &
done
wait
