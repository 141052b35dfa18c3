#!/bin/bash
out=$1
while ! pgrep -x wrk >/dev/null; do sleep 0.2; done
sleep 6
for i in $(seq 1 40); do
  psql -h 127.0.0.1 -U postgres -d roost_bench -Atc "select coalesce(wait_event_type,'-')||':'||coalesce(wait_event,'-')||' '||state||' '||left(regexp_replace(query,'\s+',' ','g'),70) from pg_stat_activity where datname='roost_bench' and pid<>pg_backend_pid() and state<>'idle'" >> $out
  sleep 0.25
done
