#!/bin/bash
# The benchmark set behind BENCHMARKS.md (final code of session 2). Output under /tmp/br/final3.
cd /work/main
R=.venv/bin/roost
O=/tmp/br/final3
E="--preset small --data-dir /tmp/roost-bench/small"
P="--preset small --data-dir /tmp/roost-bench/prod-small"
PRODENV="ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop"
log() { echo "$(date +%T) $* load $(cut -d' ' -f1 /proc/loadavg)" >> $O/progress.log; }
for i in 1 2 3; do log emb-wrk$i; $R bench run $E --wrk --duration 15 --concurrency 32 --out $O/emb-wrk$i > /dev/null 2>&1; done
for i in 1 2 3; do log emb-paced$i; $R bench run $E --wrk --rate 200 --duration 15 --concurrency 16 --out $O/emb-paced$i > /dev/null 2>&1; done
for i in 1 2 3; do log emb-posts$i; $R bench run $E --wrk --wrk-posts --read-ratio 2 --rate 150 --duration 15 --concurrency 16 --out $O/emb-posts$i > /dev/null 2>&1; done
log emb-mixed; $R bench run $E --duration 15 --concurrency 16 --read-ratio 100 --out $O/emb-mixed > $O/emb-mixed.txt 2>&1
log emb-micro; (cd /tmp && /work/main/.venv/bin/roost bench micro --out $O/emb-micro > $O/emb-micro.txt 2>&1)
for n in 1 2; do for i in 1 2 3; do log prod-wrk-p$n-$i; env $PRODENV $R bench run $P --wrk --duration 15 --concurrency 32 --api-processes $n --out $O/prod-wrk-p$n-$i > /dev/null 2>&1; done; done
for i in 1 2 3; do log prod-paced$i; env $PRODENV $R bench run $P --wrk --rate 300 --duration 15 --concurrency 16 --api-processes 2 --out $O/prod-paced$i > /dev/null 2>&1; done
for i in 1 2 3; do log prod-posts$i; env $PRODENV $R bench run $P --wrk --wrk-posts --read-ratio 2 --rate 150 --duration 15 --concurrency 16 --api-processes 2 --out $O/prod-posts$i > /dev/null 2>&1; done
log prod-mixed; env $PRODENV $R bench run $P --duration 15 --concurrency 16 --read-ratio 100 --api-processes 2 --out $O/prod-mixed > $O/prod-mixed.txt 2>&1
log prod-micro; (cd /tmp && env ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench_m ROOST_REDIS_URL=redis://127.0.0.1:6379/7 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop /work/main/.venv/bin/roost bench micro --out $O/prod-micro > $O/prod-micro.txt 2>&1)
log compare; $R bench compare $E --duration 10 --concurrency 16 --read-ratio 20 --out $O/compare > $O/compare.txt 2>&1
log emb-posts-sat; $R bench run $E --wrk --wrk-posts --read-ratio 2 --duration 15 --concurrency 32 --out $O/emb-posts-sat > /dev/null 2>&1
log prod-posts-sat; env $PRODENV $R bench run $P --wrk --wrk-posts --read-ratio 2 --duration 15 --concurrency 32 --api-processes 2 --out $O/prod-posts-sat > /dev/null 2>&1
log done
