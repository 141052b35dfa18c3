"""Print the micro A/B's figures, one line per run: python summarize_micro.py DIR."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(root: Path) -> None:
    for path in sorted(root.glob("*/micro.json")):
        data = json.loads(path.read_text())
        write = data["celebrity_post_write"]
        reads = data["feed_read_by_celebrities_followed"]
        ratio = reads["50"]["p99_ms"] / reads["0"]["p99_ms"]
        print(
            f"{path.parent.name:22} write p50 {write['p50_ms']:5.2f} p99 {write['p99_ms']:5.2f} ms | "
            f"10K fan-out {data['fanout_10k']['median_seconds_to_last_follower'] * 1000:6.1f} ms "
            f"{data['fanout_10k']['timeline_inserts_per_second']:8.0f}/s | "
            f"full {data['push_into_full_timelines']['inserts_per_second']:8.0f}/s | "
            f"read p99 0/50 {reads['0']['p99_ms']:5.2f}/{reads['50']['p99_ms']:5.2f} ({ratio:4.2f}x) | "
            f"cold p99 {data['cold_rebuild_500']['p99_ms']:5.1f} ms"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
