#!/bin/bash
out=$1
while ! pgrep -x wrk >/dev/null; do sleep 0.2; done
for i in $(seq 1 22); do
  ob=$(psql -h 127.0.0.1 -U postgres -d roost_bench -Atc "select count(*), coalesce(extract(epoch from now()-min(created_at)),0) from outbox where sent_at is null" 2>/dev/null)
  pend=0; lag=0
  for p in $(seq 0 15); do
    x=$(redis-cli xinfo groups "roostbench:events:{p$p}" | tr '\n' ' ')
    pe=$(echo "$x" | awk '{for(i=1;i<=NF;i++) if($i=="pending") print $(i+1)}')
    la=$(echo "$x" | awk '{for(i=1;i<=NF;i++) if($i=="lag") print $(i+1)}')
    pend=$((pend + ${pe:-0})); lag=$((lag + ${la:-0}))
  done
  echo "$(date +%s) outbox_unsent(count,oldest_s)=$ob stream_pending=$pend stream_lag=$lag" >> $out
  sleep 1
done
