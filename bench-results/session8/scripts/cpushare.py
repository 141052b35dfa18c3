import os, sys, time
def snap():
    r={}
    for p in os.listdir('/proc'):
        if not p.isdigit(): continue
        try:
            s=open(f'/proc/{p}/stat').read()
            cmd=open(f'/proc/{p}/cmdline','rb').read().replace(b'\0',b' ').decode(errors='replace')
        except OSError: continue
        f=s[s.rindex(')')+2:].split()
        comm=s[s.index('(')+1:s.rindex(')')]
        r[p]=(comm,cmd,int(f[11])+int(f[12]))
    return r
a=snap(); t=time.time(); time.sleep(float(sys.argv[1])); b=snap(); el=time.time()-t
g={}
for p,(comm,cmd,tk) in b.items():
    d=tk-(a[p][2] if p in a else 0)
    if 'postgres' in comm or 'postgres' in cmd: k='postgres'
    elif 'roost serve' in cmd or comm.startswith('roost'): k='roost serve (api)'
    elif 'roost worker' in cmd: k='roost worker'
    elif 'roost bench' in cmd: k='roost bench'
    else: k=comm
    g[k]=g.get(k,0)+d
tot=sum(g.values())
for k,v in sorted(g.items(),key=lambda x:-x[1])[:9]:
    if v: print(f"{v/100/el:6.3f} cores {k}")
print(f"{tot/100/el:6.3f} cores total")
