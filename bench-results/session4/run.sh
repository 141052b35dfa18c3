#!/bin/bash
# Session 4's run set of the new code (after ab.sh): paced embedded reads, posting with fan-out
# freshness, and the microbenchmarks of both profiles. Output under /tmp/br/s4run.
cd /work/main
R=.venv/bin/roost
O=/tmp/br/s4run
mkdir -p $O
E="--preset small --data-dir /tmp/roost-bench/small"
MICROENV="ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench_m ROOST_REDIS_URL=redis://127.0.0.1:6379/7 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop"
log() { echo "$(date +%T) $* load $(cut -d' ' -f1 /proc/loadavg)" >> $O/progress.log; }
for rate in 350 400; do for i in 1 2 3; do log emb-paced$rate-$i; $R bench run $E --wrk --rate $rate --duration 15 --concurrency 16 --out $O/emb-paced$rate-$i > /dev/null 2>&1; done; done
for i in 1 2; do log emb-posts$i; $R bench run $E --wrk --wrk-posts --read-ratio 2 --rate 90 --duration 15 --concurrency 16 --out $O/emb-posts$i > /dev/null 2>&1; .venv/bin/python scripts/drain_outbox.py /tmp/roost-bench/small >> $O/drain.log 2>&1; done
for i in 1 2 3; do log emb-micro$i; (cd /tmp && /work/main/.venv/bin/roost bench micro --out $O/emb-micro$i > $O/emb-micro$i.txt 2>&1); done
for i in 1 2 3; do log prod-micro$i; (cd /tmp && env $MICROENV /work/main/.venv/bin/roost bench micro --out $O/prod-micro$i > $O/prod-micro$i.txt 2>&1); done
log done
# After the celebrity pull change (commit after 11eea4c), the production microbenchmarks again
# (06:34-06:35 UTC): the production column of BENCHMARKS.md's microbenchmark table.
for i in 1 2 3; do log prod-micro-final$i; (cd /tmp && env $MICROENV /work/main/.venv/bin/roost bench micro --out $O/prod-micro-final$i > $O/prod-micro-final$i.txt 2>&1); done
