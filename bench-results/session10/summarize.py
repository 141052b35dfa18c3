"""Prints the run set in bench-results/session10/final: micro results and each wrk run's figures."""

import glob
import json
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "bench-results/session10/final"
for path in sorted(glob.glob(f"{root}/micro-*/micro.json")):
    d = json.load(open(path))
    f, c, r = d["fanout_10k"], d["celebrity_post_write"], d["cold_rebuild_500"]
    reads = d["feed_read_by_celebrities_followed"]
    print(
        path.split("/")[-2],
        f"fanout10k={1000 * f['median_seconds_to_last_follower']:.1f}ms",
        f"inserts/s={f['timeline_inserts_per_second']:.0f}",
        f"full={d['push_into_full_timelines']['inserts_per_second']:.0f}",
        f"celeb_p99={c['p99_ms']:.2f}ms",
        f"ratio50={reads['50']['p99_ms'] / reads['0']['p99_ms']:.2f}",
        f"rebuild_p99={r['p99_ms']:.1f}ms",
    )
for path in sorted(glob.glob(f"{root}/*/wrk-*.json")):
    d = json.load(open(path))
    f = d.get("fanout_freshness") or {}
    line = (
        f"{path.split('/')[-2]}: reads/s={d['feed_reads_per_second']:.1f} posts/s={d['posts_per_second']:.1f}"
        f" p50={d['p50_ms']:.1f} p90={d['p90_ms']:.1f} p99={d['p99_ms']:.1f}ms"
        f" cpu/req={d['server_cpu_ms_per_read']:.2f}ms"
    )
    if f.get("pushed_posts"):
        line += f" fresh_p50={f['p50_ms']:.0f} p99={f['p99_ms']:.0f}ms within1s={f['share_within_1s']:.3f}"
    print(line)
for path in sorted(glob.glob(f"{root}/prod-driver/*.json")):
    d = json.load(open(path))
    print("driver", path.split("/")[-1], {k: v for k, v in d.items() if "bytes" in k})
