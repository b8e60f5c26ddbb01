"""Methods by name: lookup and loading, over the interface of :mod:`factmlp.methods`.

:data:`BUILTIN` lists every built-in method with the module that defines it and what the workflow
needs to know of it before building anything: whether it trains by gradient descent (one job per
capacity search) and the method whose capacity result it is built from. :func:`method_names`,
:func:`is_trained` and :func:`reference_of` answer from that list without importing any method
module, so parsing the workflow (``snakemake --lint``, a dry run) needs no torch;
:func:`get_method` imports the method modules when it first builds one. A method registered at run
time with :func:`factmlp.methods.register` (a test's, a user's) is found too.
``tests/test_methods.py`` checks every line of :data:`BUILTIN` against the registered class.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from .methods import METHODS, Method

__all__ = ["BUILTIN", "Builtin", "method_names", "is_trained", "reference_of", "get_method", "load_builtin"]


class Builtin(NamedTuple):
    module: str  # defines and registers the method
    trained: bool = False  # Method.trained
    reference: str | None = None  # Method.reference


_ED = "factmlp.constructions.encoder_decoder"
_HEB = "factmlp.constructions.hebbian"
_NTK = "factmlp.constructions.ntk"
_GDED = "factmlp.constructions.gd_encdec"
BUILTIN: dict[str, Builtin] = {
    "gd": Builtin("factmlp.training", trained=True),
    "construction": Builtin(_ED),
    "construction_whitened": Builtin(_ED),
    "construction_jl": Builtin(_ED),
    "construction_jl_whitened": Builtin(_ED),
    "construction_codebook": Builtin("factmlp.constructions.codebook"),
    "gd_encdec": Builtin(_GDED, trained=True, reference="construction"),
    "gd_encdec_free": Builtin(_GDED, trained=True, reference="construction"),
    "hebbian": Builtin(_HEB),
    "hebbian_whitened": Builtin(_HEB),
    "hebbian_data_dependent": Builtin(_HEB),
    "ntk": Builtin(_NTK),
    "ntk_whitened": Builtin(_NTK),
    "ntk_ustar": Builtin(_NTK),
}


def _unknown(name: str) -> KeyError:
    return KeyError(f"unknown method {name!r}; known methods: {', '.join(method_names())}")


def method_names() -> list[str]:
    """Every method: the built-in ones and any registered at run time."""
    return sorted(set(BUILTIN) | set(METHODS))


def is_trained(name: str) -> bool:
    """Whether method ``name`` trains by gradient descent (see :attr:`Method.trained`)."""
    if name in BUILTIN:
        return BUILTIN[name].trained
    if name in METHODS:
        return METHODS[name].trained
    raise _unknown(name)


def reference_of(name: str) -> str | None:
    """The method whose capacity result method ``name`` is built from (see :attr:`Method.reference`)."""
    if name in BUILTIN:
        return BUILTIN[name].reference
    if name in METHODS:
        return METHODS[name].reference
    raise _unknown(name)


def _class(name: str) -> type[Method]:
    if name not in METHODS and name in BUILTIN:
        load_builtin()
    if name not in METHODS:
        raise _unknown(name)
    return METHODS[name]


def get_method(name: str, **settings) -> Method:
    """The method called ``name`` with its settings (unknown keys raise, naming them)."""
    cls = _class(name)
    known = {f.name for f in dataclasses.fields(cls.Settings)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"method {name!r} has no setting(s) {unknown}; known: {sorted(known)}")
    return cls(cls.Settings(**settings))


def load_builtin() -> dict[str, type[Method]]:
    """Import every built-in method's module (running their ``@register``); the registered classes
    by name. The imports are written out, not computed from :data:`BUILTIN`: a job's code hash
    (:mod:`factmlp.codehash`) follows imports statically, so a job that can build a method covers
    that method's module."""
    from . import training  # noqa: F401
    from .constructions import codebook, encoder_decoder, gd_encdec, hebbian, ntk  # noqa: F401

    return dict(METHODS)
