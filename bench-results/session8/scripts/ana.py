import sys, collections
tot=0; incl=collections.Counter(); self_=collections.Counter()
for f in sys.argv[1:]:
    for line in open(f):
        line=line.rstrip()
        if not line: continue
        stack, n = line.rsplit(" ",1); n=int(n)
        frames = stack.split(";")
        tot+=n
        seen=set()
        for fr in frames:
            name=fr.split(" (")[0]+" "+ (fr.split("(")[-1].split(":")[0].split("/")[-1] if "(" in fr else "")
            if name not in seen:
                incl[name]+=n; seen.add(name)
        last=frames[-1]; self_[last.split(" (")[0]+" "+(last.split("(")[-1].split(":")[0].split("/")[-1] if "(" in last else "")]+=n
print("total", tot)
print("== inclusive")
for k,v in incl.most_common(70): print(f"{100*v/tot:5.1f} {k}")
print("== self")
for k,v in self_.most_common(40): print(f"{100*v/tot:5.1f} {k}")
