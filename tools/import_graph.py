"""Print the import graph between Keywarden's top-level packages and the Azure SDK:
`.venv/bin/python tools/import_graph.py` — one line per edge with its count of direct imports.
`lint-imports` checks the contracts; this shows the whole picture, e.g. before and after a move."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import grimp

PACKAGES = ("portal", "approvals", "keys", "audit", "accounts", "core", "hsm_emulator")


def group_of(module: str) -> str:
    """The package a module belongs to; the emulator's client side counts on its own."""
    parts = module.split(".")
    if parts[:2] == ["hsm_emulator", "client"]:
        return "hsm_emulator.client"
    return parts[0]


def edges() -> Counter[tuple[str, str]]:
    present = [name for name in PACKAGES if importlib.util.find_spec(name)]
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
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    for (source, target), count in sorted(edges().items()):
        print(f"{source:20} -> {target:20} {count}")


if __name__ == "__main__":
    main()
