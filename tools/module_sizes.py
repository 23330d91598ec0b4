"""Print the size distribution of Keywarden's product modules (the packages of
tools/import_graph.py, migrations left out): `.venv/bin/python tools/module_sizes.py [ROOT]`
— count, median, p90, max lines, how many exceed 400, and the largest ten."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from import_graph import PACKAGES

LIMIT = 400  # STYLE §7: past ~400 lines a module becomes a package


def sizes(root: Path) -> dict[str, int]:
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" not in path.relative_to(root).parts:
                found[str(path.relative_to(root))] = len(path.read_text().splitlines())
    return found


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    found = sizes(root.resolve())
    lines = sorted(found.values())
    p90 = statistics.quantiles(lines, n=10, method="inclusive")[-1]
    print(
        f"modules {len(lines)}  median {statistics.median(lines):g}  p90 {p90:g}  "
        f"max {lines[-1]}  over {LIMIT}: {sum(n > LIMIT for n in lines)}"
    )
    for path, count in sorted(found.items(), key=lambda item: -item[1])[:10]:
        print(f"{count:6}  {path}")


if __name__ == "__main__":
    main()
