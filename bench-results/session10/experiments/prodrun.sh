#!/bin/bash
# usage: prodrun.sh OUTDIR [extra args...]; runs from /work/main tree unless PYTHONPATH set
out=$1; shift
export ROOST_DATABASE_URL=${DBURL:-postgresql://postgres@127.0.0.1:5432/roost_bench} ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop
cd /tmp && /work/main/.venv/bin/roost bench run --preset small --data-dir /tmp/roost-bench/prod-small --wrk --duration 15 --out "$out" "$@" > "$out.log" 2>&1
python3 - "$out" <<'PY'
import json,sys,glob
for f in glob.glob(sys.argv[1]+"/wrk-*.json"):
    d=json.load(open(f))
    def find(d,path=""):
        pass
    r=d.get("reads") or d
    print(f, json.dumps({k:v for k,v in d.items() if not isinstance(v,(dict,list))})[:600])
    for k,v in d.items():
        if isinstance(v,dict): print(" ",k, json.dumps(v)[:400])
PY
