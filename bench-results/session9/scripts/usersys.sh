#!/bin/bash
# usage: usersys.sh OUT [bench args] (embedded); prints user/sys CPU of roost serve over 10 s of the measured window
out=$1; shift
cd /tmp && /work/main/.venv/bin/roost bench run --preset small --data-dir /tmp/roost-bench/small --wrk --duration 15 --out $out "$@" > $out.log 2>&1 &
for i in $(seq 1 60); do sleep 1; pid=$(pgrep -f "roost serve" | head -1); [ -n "$pid" ] && break; done
sleep 14
read -r u1 s1 < <(awk '{print $14, $15}' /proc/$pid/stat)
sleep 10
read -r u2 s2 < <(awk '{print $14, $15}' /proc/$pid/stat)
echo "user $(( (u2-u1) )) sys $(( (s2-s1) )) ticks in 10 s"
wait
python3 -c "
import json; d=json.load(open('$out/wrk-small.json')); print({k:d[k] for k in ('feed_reads_per_second','p50_ms','p99_ms','server_cpu_ms_per_read')})"
