import sys, collections
# print call tree (inclusive %) below a given function name, depth-limited
root = sys.argv[1]; maxd = int(sys.argv[2]); files = sys.argv[3:]
tree = collections.Counter(); tot = 0
for f in files:
    for line in open(f):
        line = line.rstrip()
        if not line: continue
        st, n = line.rsplit(" ", 1); n = int(n); tot += n
        fr = [x.split(" (")[0] for x in st.split(";")]
        if root in fr:
            i = fr.index(root)
            path = tuple(fr[i:i+maxd])
            for k in range(1, len(path)+1): tree[path[:k]] += n
for p in sorted(tree):
    if tree[p] / tot >= 0.004: print(f"{100*tree[p]/tot:5.1f} " + "  "*(len(p)-1) + p[-1])
