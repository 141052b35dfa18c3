#!/bin/bash
# Same-box A/B: this code (new) against session 2's final commit 4fd1b30 (old: `git archive 4fd1b30 src | tar -x -C /tmp/old`),
# alternating runs. Output was /tmp/br/ab, copied here. Embedded posting runs are drained after each run.
cd /work/main
O=/tmp/br/ab
P="--preset small --data-dir /tmp/roost-bench/prod-small"
export ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop
log() { echo "$(date +%T) $* load $(cut -d' ' -f1 /proc/loadavg)" >> $O/progress.log; }
for i in 1 2 3; do
  log new-prod-p1-$i; .venv/bin/roost bench run $P --wrk --duration 15 --concurrency 32 --api-processes 1 --out $O/new-prod-p1-$i > /dev/null 2>&1
  log old-prod-p1-$i; PYTHONPATH=/tmp/old/src .venv/bin/roost bench run $P --wrk --duration 15 --concurrency 32 --api-processes 1 --out $O/old-prod-p1-$i > /dev/null 2>&1
done
for i in 1 2; do
  log new-prod-p2-$i; .venv/bin/roost bench run $P --wrk --duration 15 --concurrency 32 --api-processes 2 --out $O/new-prod-p2-$i > /dev/null 2>&1
  log old-prod-p2-$i; PYTHONPATH=/tmp/old/src .venv/bin/roost bench run $P --wrk --duration 15 --concurrency 32 --api-processes 2 --out $O/old-prod-p2-$i > /dev/null 2>&1
done
export ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench_m ROOST_REDIS_URL=redis://127.0.0.1:6379/7
for i in 1 2; do
  log new-prod-micro$i; (cd /tmp && /work/main/.venv/bin/roost bench micro --out $O/new-prod-micro$i > $O/new-prod-micro$i.txt 2>&1)
  log old-prod-micro$i; (cd /tmp && PYTHONPATH=/tmp/old/src /work/main/.venv/bin/roost bench micro --out $O/old-prod-micro$i > $O/old-prod-micro$i.txt 2>&1)
done
unset ROOST_DATABASE_URL ROOST_REDIS_URL
for i in 1 2; do
  log new-emb-micro$i; (cd /tmp && /work/main/.venv/bin/roost bench micro --out $O/new-emb-micro$i > $O/new-emb-micro$i.txt 2>&1)
  log old-emb-micro$i; (cd /tmp && PYTHONPATH=/tmp/old/src /work/main/.venv/bin/roost bench micro --out $O/old-emb-micro$i > $O/old-emb-micro$i.txt 2>&1)
done
log push-cost-new; .venv/bin/python scripts/timeline_push_cost.py > $O/push-cost-new.txt 2>&1
log push-cost-old; PYTHONPATH=/tmp/old/src .venv/bin/python scripts/timeline_push_cost.py > $O/push-cost-old.txt 2>&1
log push-cost-new2; .venv/bin/python scripts/timeline_push_cost.py > $O/push-cost-new2.txt 2>&1
log push-cost-old2; PYTHONPATH=/tmp/old/src .venv/bin/python scripts/timeline_push_cost.py > $O/push-cost-old2.txt 2>&1
log compare; .venv/bin/roost bench compare --preset small --data-dir /tmp/roost-bench/small --duration 10 --concurrency 16 --read-ratio 20 --out $O/compare > $O/compare.txt 2>&1
log done2
