"""Which library code a job runs, as one hash: so that editing a module reruns the jobs that use it.

Snakemake reruns a job when its parameters, inputs or (for ``shell``/``run`` rules) its code change,
but a ``script:`` rule is tied to its script by modification time only, and the library the script
imports is invisible to it: editing ``src/factmlp/capacity.py`` reran nothing (results went stale),
while a ``git checkout`` that rewrote an unchanged script reran every job of its rule. The workflow
therefore gives each heavy rule a parameter ``code``: the hash of the *contents* of its script and of
every ``factmlp`` module that script can import (the import closure, followed statically through
the package, including imports inside functions and each package's ``__init__``), and the profiles
turn off the mtime-based ``code`` trigger (``rerun-triggers: [mtime, params, input, software-env]``).
A change to any module in the closure changes the parameter and reruns exactly the jobs whose
script reaches it; a comment-free reformat of an unrelated module or a touched file reruns nothing.
``snakemake -n`` prints, per job, that its parameters changed.

The closure is an over-approximation (a module imported but not called on the job's path counts),
which errs on the side of rerunning. It only follows ``factmlp`` imports: third-party packages are
pinned by the environment (Snakemake's ``software-env`` trigger covers conda envs).
"""

from __future__ import annotations

import ast
import hashlib
import os
from functools import lru_cache
from pathlib import Path

__all__ = ["import_closure", "code_hash", "export_source"]


def _module_file(root: Path, dotted: str) -> Path | None:
    """The file of module ``dotted`` (e.g. ``factmlp.constructions.ntk``) under ``root`` (the folder
    holding the ``factmlp`` package), or None if it is not a module of that package."""
    parts = dotted.split(".")
    base = root.joinpath(*parts)
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _package_of(root: Path, path: Path) -> list[str]:
    """The package that relative imports in the module at ``path`` start from: ``factmlp/x/y.py`` and
    ``factmlp/x/__init__.py`` -> ``["factmlp", "x"]``."""
    return list(path.relative_to(root).parts[:-1])


@lru_cache(maxsize=None)
def _imported(root: Path, path: Path, package: str) -> frozenset[Path]:
    """Files of the ``package`` modules that the source at ``path`` imports anywhere in its text."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = _package_of(root, path) if path.is_relative_to(root) else []
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                if not here or node.level > len(here):
                    continue
                mod = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names.append(mod)
            names += [f"{mod}.{a.name}" for a in node.names]  # `from pkg import submodule`
    found: set[Path] = set()
    for name in names:
        if name != package and not name.startswith(package + "."):
            continue
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__, a/b/__init__, then c
            f = _module_file(root, ".".join(parts[:i]))
            if f is not None:
                found.add(f)
    return frozenset(found)


def import_closure(scripts, root, package: str = "factmlp") -> list[Path]:
    """Every ``package`` module file that ``scripts`` (paths) can import, directly or through each
    other, sorted; ``root`` is the folder that holds the package (``src``)."""
    root = Path(root).resolve()
    todo = [Path(s).resolve() for s in scripts]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        for f in _imported(root, path, package):
            if f not in seen:
                seen.add(f)
                todo.append(f)
    return sorted(seen)


@lru_cache(maxsize=None)
def _code_hash(script: Path, root: Path, package: str) -> str:
    h = hashlib.sha256()
    for f in [script, *import_closure([script], root, package)]:
        name = f.name if f == script else f.relative_to(root).as_posix()
        h.update(name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def code_hash(script, root, package: str = "factmlp") -> str:
    """Hash (16 hex digits) of the contents of ``script`` and of its import closure in ``package``
    under ``root``: it changes when, and only when, one of those files' text changes."""
    return _code_hash(Path(script).resolve(), Path(root).resolve(), package)


def export_source(src) -> None:
    """Make the jobs import the package from ``src`` (the folder that was hashed), whatever is
    installed: prepend it to ``PYTHONPATH``, which script jobs, their conda envs and containers
    inherit from the Snakemake process."""
    src = str(Path(src).resolve())
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != src]
    os.environ["PYTHONPATH"] = os.pathsep.join([src, *parts])
