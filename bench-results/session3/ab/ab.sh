#!/bin/bash
# Same-box A/B: this code (new) against session 2's final commit 4fd1b30 (old: `git archive 4fd1b30 src | tar -x -C /tmp/old`),
# alternating runs. Output was /tmp/br/ab, copied here. Embedded posting runs are drained after each run.
cd /work/main
O=/tmp/br/ab
mkdir -p $O
E="--preset small --data-dir /tmp/roost-bench/small"
log() { echo "$(date +%T) $* load $(cut -d' ' -f1 /proc/loadavg)" >> $O/progress.log; }
for i in 1 2 3; do
  log new-wrk$i; .venv/bin/roost bench run $E --wrk --duration 15 --concurrency 32 --out $O/new-wrk$i > /dev/null 2>&1
  log old-wrk$i; PYTHONPATH=/tmp/old/src .venv/bin/roost bench run $E --wrk --duration 15 --concurrency 32 --out $O/old-wrk$i > /dev/null 2>&1
done
for i in 1 2 3; do
  log new-posts$i; .venv/bin/roost bench run $E --wrk --wrk-posts --read-ratio 2 --rate 90 --duration 15 --concurrency 16 --out $O/new-posts$i > /dev/null 2>&1
  .venv/bin/python scripts/drain_outbox.py /tmp/roost-bench/small 1000 >> $O/drain.log 2>&1
  log old-posts$i; PYTHONPATH=/tmp/old/src .venv/bin/roost bench run $E --wrk --wrk-posts --read-ratio 2 --rate 90 --duration 15 --concurrency 16 --out $O/old-posts$i > /dev/null 2>&1
  .venv/bin/python scripts/drain_outbox.py /tmp/roost-bench/small 1000 >> $O/drain.log 2>&1
done
log done
