#!/bin/bash
# Same-box A/B: OLD (session 8's final code, /tmp/s8final/src) against NEW (the working tree), alternating.
# usage: ab.sh OUTDIR ROUNDS profile(embedded|production) [bench run args]
out=$1; rounds=$2; profile=$3; shift 3
mkdir -p $out
PROD="ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop"
if [ "$profile" = production ]; then envs="$PROD"; data=/tmp/roost-bench/prod-small; else envs=""; data=/tmp/roost-bench/small; fi
cd /tmp
for r in $(seq 1 $rounds); do
  for v in old new; do
    pp=""; [ $v = old ] && pp="PYTHONPATH=/tmp/s8final/src"
    env $envs $pp /work/main/.venv/bin/roost bench run --preset small --data-dir $data --wrk --duration 15 --out $out/$v-$r "$@" > $out/$v-$r.log 2>&1
    python3 -c "
import json,glob; d=json.load(open(glob.glob('$out/$v-$r/wrk-*.json')[0])); print('$v-$r', *(f'{k}={d[k]:.2f}' for k in ('feed_reads_per_second','p50_ms','p90_ms','p99_ms','server_cpu_ms_per_read')))" | tee -a $out/summary.txt
  done
done
