"""One interface for every way of making a fact-storing MLP, registered by name.

A method turns ``(fact_set, width, seed)`` into a :class:`~factmlp.mlp.GatedMLP` plus a dict of
metrics. The capacity search, the Transformer experiments and the editing experiments only
see this interface, so GD, NTK and the constructions replace each other in one sweep.

This module is the interface only: :class:`Method`, :func:`register` and the store
:data:`METHODS`. Finding a method by name (and importing the module that defines it) is
:mod:`factmlp.registry`'s job, so imports go one way: registry -> method modules -> methods.

Adding a method: subclass :class:`Method`, give it a ``name`` and a settings dataclass
``Settings``, decorate it with :func:`register`, add a line for it to
:data:`factmlp.registry.BUILTIN` (its module and kind; a test checks the line against the class),
and give its settings a block under the config schema's ``methods``. The registry is the one list
of method names: the schema's method enum is filled in from it (:func:`factmlp.config.load_schema`)
and the figures need no list of methods (:mod:`factmlp.plots.common`).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:  # annotations only: this module imports no torch (factmlp.registry reads it at parse time)
    from .facts import FactSet
    from .mlp import GatedMLP

__all__ = ["Method", "METHODS", "register"]

METHODS: dict[str, type["Method"]] = {}


class Method(ABC):
    """A builder ``(fact_set, width, seed) -> (GatedMLP, metrics)``."""

    name: ClassVar[str]
    Settings: ClassVar[type]
    #: True for methods that train by gradient descent: one capacity search costs minutes, so the
    #: workflow gives each its own job; closed-form builders of one fact set share one job (their
    #: searches take seconds, less than a job's start-up).
    trained: ClassVar[bool] = False
    #: What the capacity search varies and reports: ``"width"`` (the hidden width) or another unit
    #: the method is sized by (the encoder-decoder construction: its code dimension m', ``"code_dim"``;
    #: ``gd_encdec``: its number of buckets at the construction's m', ``"n_buckets"``).
    size_name: ClassVar[str] = "width"
    #: The method whose capacity result on the same fact set this one is built from (``None``: none).
    #: ``gd_encdec`` takes the construction's m' and bucket count: its capacity job reads the
    #: construction's table, and every sweep that runs it must run the construction too
    #: (:func:`factmlp.config.validate_config`). Such a method is pinned by :meth:`pinned` first.
    reference: ClassVar[str | None] = None

    def __init__(self, settings=None, **overrides) -> None:
        settings = settings if settings is not None else self.Settings()
        self.settings = dataclasses.replace(settings, **overrides) if overrides else settings

    @abstractmethod
    def build(self, facts: FactSet, width: int, *, seed: int) -> tuple[GatedMLP, dict]:
        """An MLP of hidden width ``width`` meant to store ``facts``."""

    def max_size(self, facts: FactSet) -> int | None:
        """The largest size worth searching on ``facts`` (e.g. m' <= d for an orthogonal decoder);
        ``None``: no cap beyond the search's own ``width_max``."""
        return None

    def min_size(self, facts: FactSet) -> int | None:
        """The smallest size worth searching on ``facts``, when the search's ``width_min`` (a hidden
        width) does not apply to this method's unit; ``None``: ``width_min``."""
        return None

    def hidden_width(self, facts: FactSet, size: int) -> int:
        """Hidden width of the MLP built at ``size`` (the size itself unless ``size_name`` is another
        unit): what a failed probe, which built nothing, is counted at."""
        return size

    def pinned(self, facts: FactSet, reference_row: dict) -> "Method":
        """This method fixed by ``reference_row``, the summary row of its :attr:`reference`'s capacity
        search on ``facts`` (columns of :func:`factmlp.capacity.capacity_tables`); only methods with
        a ``reference`` are pinned."""
        raise TypeError(f"method {self.name!r} is built from no other method's capacity result")

    def variants(self, facts: FactSet) -> list[tuple[str, "Method"]]:
        """``(label, method)`` pairs the capacity search tries on ``facts``, keeping the one with the
        fewest parameters (e.g. the construction over bucket sizes); by default only this method,
        unlabelled. The winning label travels with the result (column ``variant``) so that later
        stages rebuild it with :meth:`chosen_variant`."""
        return [("", self)]

    def chosen_variant(self, facts: FactSet, label) -> "Method":
        """The variant of this method that a capacity search on ``facts`` reported as ``label``
        (its ``variant`` column, e.g. ``b=32``), so that later stages rebuild what the search chose;
        this method itself when the label is empty (or NaN, as pandas reads an empty TSV cell)."""
        if label is None or (isinstance(label, float) and label != label) or str(label) == "":
            return self
        variants = self.variants(facts)
        for lab, variant in variants:
            if lab == str(label):
                return variant
        raise ValueError(f"method {self.name!r} has no variant {label!r} on this fact set; "
                         f"known: {[lab for lab, _ in variants]}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings})"


def register(cls: type[Method]) -> type[Method]:
    """Class decorator adding ``cls`` to :data:`METHODS` under ``cls.name``."""
    if cls.name in METHODS:
        raise ValueError(f"method {cls.name!r} is registered twice")
    METHODS[cls.name] = cls
    return cls
