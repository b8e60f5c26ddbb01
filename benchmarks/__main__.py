"""``python -m benchmarks [NAME [ARGS...]]``: list the benchmarks, or run one (see benchmarks/__init__.py)."""

from __future__ import annotations

import ast
import importlib
import sys
import textwrap
from pathlib import Path

from benchmarks import GROUPS

HERE = Path(__file__).resolve().parent


def catalog() -> dict[str, tuple[str, str]]:
    """name -> (group, the docstring's first paragraph) for every benchmark module, read without importing it
    (listing needs neither torch nor the benchmark's own imports). Raises if two groups share a name."""
    found: dict[str, tuple[str, str]] = {}
    for group in GROUPS:
        for path in sorted((HERE / group).glob("*.py")):
            if path.name.startswith("_"):
                continue
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            if path.stem in found:
                raise RuntimeError(f"benchmark name {path.stem!r} is in both {found[path.stem][0]}/ and {group}/")
            summary = " ".join(doc.strip().split("\n\n")[0].split())  # the docstring's first paragraph
            found[path.stem] = (group, summary.removeprefix("Benchmark: "))
    return found


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    benchmarks = catalog()
    if not argv or argv[0] in ("-h", "--help", "--list"):
        print(__doc__.splitlines()[0] + "\n")
        for group in GROUPS:
            print(f"{group}/")
            for name, (g, line) in benchmarks.items():
                if g == group:
                    print(textwrap.fill(line, 110, initial_indent=f"  {name:22s} ", subsequent_indent=" " * 25))
        return 0
    name, rest = argv[0], argv[1:]
    if name not in benchmarks:
        print(f"benchmarks: no benchmark named {name!r}; known: {', '.join(sorted(benchmarks))}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"benchmarks.{benchmarks[name][0]}.{name}")
    saved, sys.argv = sys.argv, [f"python -m benchmarks {name}", *rest]  # argparse's prog in usage and errors
    try:
        return module.main(rest) or 0
    finally:
        sys.argv = saved


if __name__ == "__main__":
    sys.exit(main())
