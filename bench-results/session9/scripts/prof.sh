#!/bin/bash
# usage: prof.sh OUT [bench args]; profiles the API serve process(es) for 12 s during a wrk run
out=$1; shift
/tmp/s8/prodrun.sh $out "$@" &
for i in $(seq 1 60); do
  sleep 1
  pids=$(pgrep -f "roost serve" | tr '\n' ' ')
  # wait until measurement (after warmup): check log for 'wrk' start - simple: sleep fixed
  if [ -n "$pids" ]; then break; fi
done
sleep 14
for p in $(pgrep -f "roost serve"); do
  /work/main/.venv/bin/py-spy record -r 250 -d 10 -f raw -o $out.$p.raw -p $p --nonblocking >/dev/null 2>&1 &
done
wait
