#!/bin/bash
cd /work/main
O=/tmp/br/s4ab2; mkdir -p $O
PRODENV="ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop"
for i in 1 2; do for v in a11 final; do
  if [ $v = a11 ]; then PP=/tmp/a11/src; else PP=; fi
  PYTHONPATH=$PP .venv/bin/roost bench run --preset small --data-dir /tmp/roost-bench/small --wrk --duration 15 --concurrency 32 --out $O/emb-$v$i > /dev/null 2>&1
  env $PRODENV PYTHONPATH=$PP .venv/bin/roost bench run --preset small --data-dir /tmp/roost-bench/prod-small --wrk --duration 15 --concurrency 32 --api-processes 1 --out $O/prod-$v$i > /dev/null 2>&1
done; done
for d in $O/*/; do python3 -c "
import json,glob; d=json.load(open(glob.glob('$d*.json')[0])); print('$d'.split('/')[-2], d['feed_reads_per_second'], round(d['server_cpu_ms_per_read'],2), d['p99_ms'])"; done > $O/summary.txt
