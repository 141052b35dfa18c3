#!/bin/bash
# Instructions per warm feed page (home_feed + JSON), counted by callgrind: repeatable on a noisy box.
# usage: icount.sh SRC_DIR READERS    e.g. icount.sh /tmp/old/src 100   (run from /tmp)
# Counts the whole process for 1 and for 3 passes over READERS readers of the embedded small preset
# (/tmp/roost-bench/small); the difference over 2 x READERS is the cost of one warm page.
HERE=$(cd "$(dirname "$0")" && pwd)
PP=$1; N=$2
c() { PYTHONPATH=$PP valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$$.out /work/main/.venv/bin/python "$HERE/warm_reps.py" /tmp/roost-bench/small "$N" "$1" 2>&1 | grep -o "Collected : [0-9]*" | awk '{print $3}'; }
a=$(c 1); b=$(c 3)
python3 -c "print(f'{($b-$a)/(2*$N)/1e6:.3f} M instructions per warm page')"
