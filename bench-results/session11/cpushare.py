# usage: cpushare.py DELAY DURATION: CPU seconds by process name (postgres, redis, wrk, roost, ...) over DURATION after DELAY
import os, sys, time, collections
def snap():
    out = collections.Counter()
    for p in os.listdir('/proc'):
        if not p.isdigit(): continue
        try:
            st = open(f'/proc/{p}/stat').read()
            cmd = open(f'/proc/{p}/cmdline').read().replace('\0', ' ')
        except OSError: continue
        f = st.rsplit(')', 1)[1].split()
        name = st.split('(')[1].split(')')[0]
        if 'roost' in cmd: name = 'roost worker' if ' worker' in cmd else ('roost serve' if 'serve' in cmd else 'roost other')
        out[name] += (int(f[11]) + int(f[12]))
    return out
def total():
    v = list(map(int, open('/proc/stat').readline().split()[1:]))
    return sum(v), v[3] + v[4]
import subprocess
while subprocess.run(['pgrep','-x','wrk'],capture_output=True).returncode: time.sleep(0.2)
time.sleep(float(sys.argv[1]))
a, (t0, i0) = snap(), total()
time.sleep(float(sys.argv[2]))
b, (t1, i1) = snap(), total()
hz = os.sysconf('SC_CLK_TCK'); d = float(sys.argv[2])
print(f"box busy {(1 - (i1 - i0) / (t1 - t0)) * 100:.0f}% of 2 cores")
for k, v in sorted(((k, (b[k] - a.get(k, 0)) / hz / d) for k in b), key=lambda x: -x[1])[:8]:
    print(f"  {k:14s} {v:.2f} cores")
