#!/bin/bash
# usage: run.sh OUTDIR profile(prod|emb) [bench run args...]; ROOST_SRC overrides the code tree
set -u
out=$1; profile=$2; shift 2
mkdir -p "$out"
ROOST=/work/main/.venv/bin/roost
if [ "$profile" = prod ]; then
  export ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/roost_bench ROOST_REDIS_URL=redis://127.0.0.1:6379/0 ROOST_SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop
  data=/tmp/roost-bench/prod-small
else
  data=/tmp/roost-bench/small
fi
[ -n "${ROOST_SRC:-}" ] && export PYTHONPATH=$ROOST_SRC
cd /tmp && "$ROOST" bench run --preset small --data-dir $data "$@" --out "$out" > "$out/log.txt" 2>&1
echo "$(date +%T) $out rc=$?"
