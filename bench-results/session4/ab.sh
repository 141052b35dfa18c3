#!/bin/bash
# Session 4's same-box A/B: session 3's final commit 1b4a1a0 ("old", from `git archive 1b4a1a0 src`
# unpacked in /tmp/old, run with PYTHONPATH=/tmp/old/src) and this session's code ("new") take
# turns under the same commands. Output under /tmp/br/s4ab; summary lines in $O/summary.txt.
cd /work/main
R=.venv/bin/roost
O=/tmp/br/s4ab
mkdir -p $O
E="--preset small --data-dir /tmp/roost-bench/small"
P="--preset small --data-dir /tmp/roost-bench/prod-small"
PRODENV="ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop"
summary() {
  python3 -c "
import json,glob,os; f=glob.glob('$1/*.json')[0]; d=json.load(open(f))
print('$2', d['feed_reads_per_second'], 'reads/s', round(d['server_cpu_ms_per_read'],2), 'ms cpu/read', 'p50', d['p50_ms'], 'p99', d['p99_ms'], 'max', d['max_ms'], 'load', round(d['load_average_before'][0],2))" >> $O/summary.txt
}
run() {  # tag env-prefix bench-args...
  tag=$1; envs=$2; shift 2
  for i in 1 2 3; do for v in old new; do
    if [ $v = old ]; then PP=/tmp/old/src; else PP=; fi
    echo "$(date +%T) $tag-$v$i" >> $O/progress.log
    env $envs PYTHONPATH=$PP $R bench run "$@" --out $O/$tag-$v$i > /dev/null 2>&1
    summary $O/$tag-$v$i $tag-$v$i
  done; done
}
run emb-wrk "" $E --wrk --duration 15 --concurrency 32
run emb-paced300 "" $E --wrk --rate 300 --duration 15 --concurrency 16
run prod-wrk-p1 "$PRODENV" $P --wrk --duration 15 --concurrency 32 --api-processes 1
run prod-wrk-p2 "$PRODENV" $P --wrk --duration 15 --concurrency 32 --api-processes 2
echo "$(date +%T) done" >> $O/progress.log
