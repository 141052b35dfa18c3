"""Print the posting A/B's figures, one line per run: python summarize_posts.py DIR."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(root: Path) -> None:
    for path in sorted(root.glob("*/wrk-*.json")):
        data = json.loads(path.read_text())
        fresh = data["fanout_freshness"]
        requests = data["requests_per_second"] * data["duration_s"]
        posts = data["posts_per_second"] * data["duration_s"]
        print(
            f"{path.parent.name:22} {data['requests_per_second']:6.1f} req/s = "
            f"{data['posts_per_second']:5.1f} posts/s + {data['feed_reads_per_second']:6.1f} reads/s | "
            f"p50/p99 {data['p50_ms']:6.1f}/{data['p99_ms']:6.1f} ms | "
            f"API CPU {1000 * data['server_cpu_seconds'] / requests:5.2f} ms/req, "
            f"worker CPU {1000 * data['workers_cpu_seconds'] / max(posts, 1):5.2f} ms/post | "
            f"freshness p50/p99 {fresh['p50_ms']}/{fresh['p99_ms']} ms, within 1 s {fresh['share_within_1s']}"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
