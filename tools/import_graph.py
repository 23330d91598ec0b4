"""Print the import graph between Keywarden's top-level packages and the Azure SDK:
`.venv/bin/python tools/import_graph.py [ROOT]` — one line per edge with its count of direct
imports, of the checkout at ROOT (default: this one; e.g. an older revision's `git worktree`).
`lint-imports` checks the contracts; this shows the whole picture, e.g. before and after a move."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import grimp

PACKAGES = (
    "portal", "posture", "reports", "approvals", "custody", "keys", "notifications", "audit",
    "accounts", "core", "hsm_emulator",
)  # fmt: skip


def group_of(module: str) -> str:
    """The package a module belongs to; the emulator's client side counts on its own."""
    parts = module.split(".")
    if parts[:2] == ["hsm_emulator", "client"]:
        return "hsm_emulator.client"
    return parts[0]


def edges(root: Path) -> Counter[tuple[str, str]]:
    """Direct imports between the packages of the checkout at `root` (one on sys.path)."""
    present = [name for name in PACKAGES if (root / name / "__init__.py").exists()]
    graph = grimp.build_graph(*present, include_external_packages=True)
    ours = (*present, "hsm_emulator.client")
    counted: Counter[tuple[str, str]] = Counter()
    for module in graph.modules:
        source = group_of(module)
        if source not in ours:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            target = group_of(imported)
            if target != source and (target in ours or target == "azure"):
                counted[source, target] += 1
    return counted


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    root = root.resolve()
    sys.path.insert(0, str(root))
    for (source, target), count in sorted(edges(root).items()):
        print(f"{source:20} -> {target:20} {count}")


if __name__ == "__main__":
    main()
