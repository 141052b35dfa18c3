#!/bin/bash
# The benchmark set behind BENCHMARKS.md's "Current results (session 3)". Output under /tmp/br/s3.
cd /work/main
R=.venv/bin/roost
O=/tmp/br/s3
mkdir -p $O
E="--preset small --data-dir /tmp/roost-bench/small"
P="--preset small --data-dir /tmp/roost-bench/prod-small"
PRODENV="ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop"
MICROENV="ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench_m ROOST_REDIS_URL=redis://127.0.0.1:6379/7 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop"
log() { echo "$(date +%T) $* load $(cut -d' ' -f1 /proc/loadavg)" >> $O/progress.log; }
log warm; for i in 1 2 3; do .venv/bin/python scripts/warm_feed_read.py /tmp/roost-bench/small 1000 >> $O/warm-emb.txt 2>&1; env $PRODENV .venv/bin/python scripts/warm_feed_read.py /tmp/roost-bench/prod-small 1000 >> $O/warm-prod.txt 2>&1; done
for i in 1 2 3; do log emb-wrk$i; $R bench run $E --wrk --duration 15 --concurrency 32 --out $O/emb-wrk$i > /dev/null 2>&1; done
for rate in 200 300; do for i in 1 2 3; do log emb-paced$rate-$i; $R bench run $E --wrk --rate $rate --duration 15 --concurrency 16 --out $O/emb-paced$rate-$i > /dev/null 2>&1; done; done
for i in 1 2 3; do log emb-posts$i; $R bench run $E --wrk --wrk-posts --read-ratio 2 --rate 150 --duration 15 --concurrency 16 --out $O/emb-posts$i > /dev/null 2>&1; done
for i in 1 2 3; do log emb-micro$i; (cd /tmp && /work/main/.venv/bin/roost bench micro --out $O/emb-micro$i > $O/emb-micro$i.txt 2>&1); done
for n in 1 2; do for i in 1 2 3; do log prod-wrk-p$n-$i; env $PRODENV $R bench run $P --wrk --duration 15 --concurrency 32 --api-processes $n --out $O/prod-wrk-p$n-$i > /dev/null 2>&1; done; done
for i in 1 2 3; do log prod-paced$i; env $PRODENV $R bench run $P --wrk --rate 300 --duration 15 --concurrency 16 --api-processes 2 --out $O/prod-paced$i > /dev/null 2>&1; done
for i in 1 2 3; do log prod-posts$i; env $PRODENV $R bench run $P --wrk --wrk-posts --read-ratio 2 --rate 150 --duration 15 --concurrency 16 --api-processes 2 --out $O/prod-posts$i > /dev/null 2>&1; done
for i in 1 2 3; do log prod-micro$i; (cd /tmp && env $MICROENV /work/main/.venv/bin/roost bench micro --out $O/prod-micro$i > $O/prod-micro$i.txt 2>&1); done
log compare; $R bench compare $E --duration 10 --concurrency 16 --read-ratio 20 --out $O/compare > $O/compare.txt 2>&1
log done
