"""Print bench/results/results.jsonl as Markdown tables: `python bench/report.py [--since ISO-TIME]`."""

from __future__ import annotations

import argparse
import json

from run import RESULTS, table


def main() -> None:
    """One Markdown table of every recorded invocation, oldest first."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--since", default="", help="only records at or after this ISO time")
    args = parser.parse_args()
    header = True
    for line in RESULTS.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["at"] < args.since:
            continue
        rows = table(record).splitlines()
        print("\n".join(rows if header else rows[2:]))
        header = False


if __name__ == "__main__":
    main()
