"""``python -m tests.reliability.table``: the README's table from last-run.jsonl (the latest
row per fault and workload)."""

from __future__ import annotations

import json

from tests.reliability.checker import RESULTS


def main() -> None:
    latest: dict[tuple[str, str], dict[str, object]] = {}
    for line in RESULTS.read_text().splitlines():
        row = json.loads(line)
        latest[(row["fault"], row["workload"])] = row
    print("| fault | workload | sent | lost | duplicated | reordered | recovery | when (UTC) |")
    print("|---|---|---|---|---|---|---|---|")
    for row in latest.values():
        recovery = row["recovery_s"]
        shown = "-" if recovery is None else f"{float(str(recovery)):.1f} s"
        print(f"| {row['fault']} | {row['workload']} | {row['sent']} | {row['lost']} | "
              f"{row['duplicated']} | {row['reordered']} | {shown} | {row['at']} |")


if __name__ == "__main__":
    main()
