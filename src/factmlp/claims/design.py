"""Pre-registered claim designs (claims revision 3): what each config declares and the minimums it must meet.

Every verdict of results/claims.tsv is decided on a *design*: the sweep, points, value geometries,
grids and seeds it reads. The design is fixed in the config before the run (section ``claims``)
and checked here against the minimums of the claims table (docs/claims.md, "Designs"), so that no
verdict is decided by a config that silently cannot satisfy its rule:

- ``claims.minimums`` names the level a config must meet: ``full`` (the revision-3 minimums, for
  ``medium`` and ``paper``), ``direction`` (smaller designs that decide each claim's direction: the
  smoke default) or ``none`` (the tiny test config: no minimum, rows still computed).
- ``claims.designs.<id>`` names what decides claim ``<id>`` (a sweep, ``d_min``, the C3 point, the
  C5 methods); defaults in :data:`DEFAULT_DESIGNS`.

:func:`claim_designs` returns, per claim, the design as run (a short text for the ``design``
column) and the list of what the config misses against its level; :func:`apply_designs` then writes
the column and turns a row whose design misses a minimum into ``n/a`` naming what is missing
(the rule would otherwise be decided on less than it asks). Conditions that only the measured
tables can tell (C3's spread of rho, C7's storing MLPs per series) are checked by the claim rules.

Pure Python on the config dict (no torch, no pandas beyond the final merge): the workflow calls
:func:`claim_designs` at parse time and passes the result to the claims job as a parameter.
"""

from __future__ import annotations

import copy
from fractions import Fraction

__all__ = ["CLAIM_IDS", "LEVELS", "DEFAULT_DESIGNS", "C2_GRID", "claim_designs", "apply_designs", "design_of"]

CLAIM_IDS = ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "B1", "B2", "E1")
LEVELS = ("full", "direction", "none")

#: What decides each claim when the config does not say (the sweep names of config/config.yaml).
DEFAULT_DESIGNS: dict[str, dict] = {
    "C1": {"sweep": "scaling", "d_min": 32},
    "C2": {"sweep": "fixed-d"},
    "C3": {"sweep": "geometry", "d": 64, "n_facts": 512},
    "C4": {"sweeps": ["families", "geometry"]},
    "C5": {"sweep": "scaling", "d_min": 32, "encdec": "gd_encdec", "beside": ""},
    "C6": {"sweep": "usable-size"},
    "C7": {"sweep": "whitening-tradeoff", "min_storing": 6},
    "C8": {},
    "C9": {},
    "B1": {"sweep": "scaling", "d_min": 32},
    "B2": {"sweep": "scaling", "d_min": 32},
    "E1": {"base": "", "min_score": 0.95},
}

#: Claim C2's grid (revision 3): d -> the alphas of |K| = alpha d^2 it must hold at level ``full``.
C2_GRID = {64: ("1/32", "1/16", "1/8", "1/4", "1/2"), 90: ("1/32", "1/16", "1/8", "1/4"),
           128: ("1/32", "1/16", "1/8", "1/4")}

# Minimums per level: (full, direction). Direction designs are the smoke default's: they decide
# the sign of each claim on fewer points, seeds and geometries (docs/claims.md says which).
_MIN = {
    "seeds": (3, 1),
    "C1_points": (5, 3),
    "C3_geometries": (8, 6),
    "C4_families": (6, 4),
    "C6_fact_sets": (3, 2),
    "C7_grid": (6, 4),
    "C8_bases": (2, 1),
    "C8_fraction": (0.5, 0.5),
    "C9_sizes": (6, 4),
    "B_points": (3, 2),
    "E1_facts": (4096, 256),
    "E1_fraction": (0.5, 0.5),
    "E1_rounds": (10, 10),
}
_CLOSED_FORM_B1 = "construction* except construction_codebook, hebbian*"


def _m(key: str, level: str):
    return _MIN[key][0 if level == "full" else 1]


def design_of(config: dict, claim: str) -> dict:
    """The declared design of ``claim``: ``claims.designs.<claim>`` over :data:`DEFAULT_DESIGNS`."""
    declared = ((config.get("claims") or {}).get("designs") or {}).get(claim) or {}
    return {**copy.deepcopy(DEFAULT_DESIGNS[claim]), **declared}


def _sweep(config: dict, name: str, section: str = "capacity") -> dict | None:
    sweeps = (config.get(section) or {}).get("sweeps") or []
    return next((s for s in sweeps if s.get("name") == name), None)


def _points(sweep: dict, d_min: int = 0) -> list[tuple[int, int]]:
    return sorted({(int(p["d"]), int(p["n_facts"])) for p in sweep.get("points", []) if int(p["d"]) >= d_min})


def _fmt_points(points) -> str:
    return ", ".join(f"d={d} |K|={n}" for d, n in points)


def _seeds(sweep: dict) -> list[int]:
    return sorted({int(s) for s in sweep.get("seeds", [])})


def _need_methods(sweep: dict, methods, name: str) -> list[str]:
    missing = [m for m in methods if m not in sweep.get("methods", [])]
    return [f"sweep '{name}' lacks method(s) {', '.join(missing)}"] if missing else []


def _need_seeds(sweep: dict, name: str, level: str) -> list[str]:
    n = len(_seeds(sweep))
    return [f"sweep '{name}' has {n} seed(s), needs >= {_m('seeds', level)}"] if n < _m("seeds", level) else []


def _no_sweep(name: str, section: str = "capacity") -> tuple[str, list[str]]:
    return f"sweep '{name}' (not in this config)", [f"{section} sweep '{name}' not in this config"]


# --------------------------------------------------------------------------- per claim


def _c1_c5(config, claim, level):
    des = design_of(config, claim)
    sw = _sweep(config, des["sweep"])
    if sw is None:
        return _no_sweep(des["sweep"])
    methods = ["construction", "gd"] + ([des["encdec"]] if claim == "C5" else [])
    pts = _points(sw, des["d_min"])
    text = (f"sweep '{des['sweep']}': {len(pts)} points with d >= {des['d_min']} ({_fmt_points(pts)}), "
            f"seeds {_seeds(sw)}")
    if claim == "C5":
        text += (f"; GD enc-dec = {des['encdec']} (the construction's architecture, its m' and bucketing)"
                 + (f", {des['beside']} beside" if des.get("beside") else ""))
    missing = _need_methods(sw, methods, des["sweep"]) + _need_seeds(sw, des["sweep"], level)
    if len(pts) < _m("C1_points", level):
        missing.append(f"{len(pts)} points with d >= {des['d_min']}, needs >= {_m('C1_points', level)}")
    return text + "; statistic: per seed, then median over seeds", missing


def _c2(config, level):
    des = design_of(config, "C2")
    sw = _sweep(config, des["sweep"])
    if sw is None:
        return _no_sweep(des["sweep"])
    pts = _points(sw)
    by_d: dict[int, list[str]] = {}
    for d, n in pts:
        a = Fraction(n, d * d).limit_denominator(64)
        by_d.setdefault(d, []).append(str(a) if abs(float(a) * d * d - n) < 1 else f"{n}/{d}^2")
    text = (f"sweep '{des['sweep']}': " + "; ".join(f"d={d} alpha {', '.join(a)}" for d, a in sorted(by_d.items()))
            + f"; seeds {_seeds(sw)}; statistic: median over seeds of NTK/construction per point")
    missing = _need_methods(sw, ["construction", "ntk"], des["sweep"]) + _need_seeds(sw, des["sweep"], level)
    if level == "full":
        for d, alphas in C2_GRID.items():
            have = {n for dd, n in pts if dd == d}
            lack = [a for a in alphas if not any(abs(n - float(Fraction(a)) * d * d) < 1 for n in have)]
            if lack:
                missing.append(f"d={d} lacks alpha {', '.join(lack)} (|K| = alpha d^2)")
    elif level == "direction":
        if not any(sum(1 for dd, _ in pts if dd == d) >= 3 and any(dd == d and n * 2 >= d * d for dd, n in pts)
                   for d in by_d):
            missing.append("no d with >= 3 points reaching |K| = d^2/2")
    return text, missing


def _c3(config, level):
    des = design_of(config, "C3")
    sw = _sweep(config, des["sweep"])
    if sw is None:
        return _no_sweep(des["sweep"])
    fams = config.get("embeddings", {}).get("families", {})
    geoms = [f for f in sw.get("families", []) if fams.get(f, {}).get("keys") == "spherical"]
    point = (int(des["d"]), int(des["n_facts"]))
    text = (f"sweep '{des['sweep']}' at d={point[0]} |K|={point[1]}: {len(geoms)} value geometries with untied "
            f"spherical keys ({', '.join(geoms)}), seeds {_seeds(sw)}; rho = min over values; statistic: per-seed "
            "R^2 of log(min params) on log(1/rho^2), median over seeds; fit without the largest-leverage geometry "
            "beside")
    missing = _need_methods(sw, ["gd"], des["sweep"]) + _need_seeds(sw, des["sweep"], level)
    if not {"construction", "construction_jl"} & set(sw.get("methods", [])):
        missing.append(f"sweep '{des['sweep']}' lacks construction / construction_jl")
    if point not in _points(sw):
        missing.append(f"sweep '{des['sweep']}' lacks the point d={point[0]} |K|={point[1]}")
    if len(geoms) < _m("C3_geometries", level):
        missing.append(f"{len(geoms)} value geometries with keys: spherical, needs >= {_m('C3_geometries', level)}")
    return text, missing


def _c4(config, level):
    des = design_of(config, "C4")
    fams = config.get("embeddings", {}).get("families", {})
    pairs = [("construction_jl", "construction_jl_whitened"), ("construction", "construction_whitened")]
    names, aniso, missing = [], set(), []
    for name in des["sweeps"]:
        sw = _sweep(config, name)
        if sw is None:
            continue
        names.append(name)
        if all(set(p) <= set(sw.get("methods", [])) for p in pairs[:1]):
            aniso |= {f for f in sw.get("families", []) if fams.get(f, {}).get("kind") != "spherical"}
    if not names:
        return _no_sweep(" / ".join(des["sweeps"]))
    methods = set().union(*(set(_sweep(config, n).get("methods", [])) for n in names))
    for pair in pairs:
        if not set(pair) <= methods:
            missing.append(f"sweeps {', '.join(names)} lack {pair[0]} / {pair[1]} (both decoders needed)")
    for m in ("construction_jl_whitened", "construction_whitened"):
        ridges = (config.get("methods", {}).get(m) or {}).get("whiten_ridges")
        if ridges is not None and "off" not in ridges:
            missing.append(f"methods.{m}.whiten_ridges lacks 'off' (whitening strength chosen per table, off allowed)")
    if len(aniso) < _m("C4_families", level):
        missing.append(f"{len(aniso)} anisotropic families with the JL pair, needs >= {_m('C4_families', level)}")
    text = (f"sweeps {', '.join(names)}: {len(aniso)} anisotropic families ({', '.join(sorted(aniso))}); decided on "
            "construction_jl / construction_jl_whitened, orthogonal pair beside; whitening chosen per value table; "
            "statistic: median over seeds of the gain per (sweep, family)")
    return text, missing


def _c6_c7(config, claim, level):
    des = design_of(config, claim)
    sw = _sweep(config, des["sweep"], "usability")
    if sw is None:
        return _no_sweep(des["sweep"], "usability")
    u = config.get("usability") or {}
    schedules = list(u.get("schedules", []))
    sets = [(f, d, n) for f in sw.get("families", []) for d, n in _points(sw)]
    missing = _need_seeds(sw, des["sweep"], level)
    if claim == "C6":
        missing += _need_methods(sw, ["construction"], des["sweep"])
        lack = [s for s in ("insert_then_train", "pretrain_then_insert") if s not in schedules]
        if lack:
            missing.append(f"usability.schedules lacks {', '.join(lack)}")
        if len(sets) < _m("C6_fact_sets", level):
            missing.append(f"{len(sets)} fact sets, needs >= {_m('C6_fact_sets', level)}")
        text = (f"usability sweep '{des['sweep']}': {len(sets)} fact sets "
                f"({', '.join(f'{f} d={d} |K|={n}' for f, d, n in sets)}), seeds {_seeds(sw)}, schedules "
                f"{', '.join(schedules)}; statistic: per fact set and schedule, the best size's median recall over "
                "seeds")
        return text, missing
    cons = [m for m in sw.get("methods", []) if m in ("construction", "construction_whitened")]
    missing += _need_methods(sw, ["construction", "construction_whitened"], des["sweep"])
    grid = int(u.get("span_points", 0) or 0)
    if grid < _m("C7_grid", level):
        missing.append(f"usability.span_points {grid}: the m' grid from the storage minimum to the cap needs "
                       f">= {_m('C7_grid', level)} points")
    if int(des["min_storing"]) < _m("C7_grid", level):
        missing.append(f"claims.designs.C7.min_storing {des['min_storing']} < {_m('C7_grid', level)}")
    text = (f"usability sweep '{des['sweep']}': series (method, whitening, fact set) of {', '.join(cons)} on "
            f"{len(sets)} fact sets, m' grid of {grid} sizes from the storage minimum to the cap, seeds "
            f"{_seeds(sw)}; statistic: per-seed Spearman(usability, Lipschitz Jacobian) within a series, median "
            "over seeds, then median over series (storing MLPs only, >= "
            f"{des['min_storing']} per series and seed)")
    return text, missing


def _c8(config, level):
    from ..config import base_name

    ed = config.get("editing") or {}
    bases = ed.get("base_mlps") or []
    if not bases:
        return "editing stage not in this config", ["editing.base_mlps is empty"]
    missing, parts = [], []
    for b in bases:
        name = base_name(b)
        over = b.get("editing") or {}
        seeds = over.get("seeds", ed.get("seeds", [ed["seed"]] if "seed" in ed else []))
        base = {**(ed.get("base") or {}), **(over.get("base") or {})}
        fractions = over.get("fractions", ed.get("fractions", []))
        decoys = float(base.get("decoy_fraction", 0.0) or 0.0)
        parts.append(f"{name} ({len(seeds)} seeds, fractions up to {max(fractions, default=0):g}"
                     + (f", decoys {decoys:g}" if decoys else "") + ")")
        if len(seeds) < _m("seeds", level):
            missing.append(f"base {name}: {len(seeds)} seed(s), needs >= {_m('seeds', level)}")
        if decoys > 0:
            missing.append(f"base {name}: decoy_fraction {decoys:g} (the paper's protocol trains without decoys)")
        if max(fractions, default=0) < _m("C8_fraction", level):
            missing.append(f"base {name}: largest edit fraction {max(fractions, default=0):g} < "
                           f"{_m('C8_fraction', level):g}")
    if len(bases) < _m("C8_bases", level):
        missing.append(f"{len(bases)} base(s), needs >= {_m('C8_bases', level)}")
    text = (f"{len(bases)} bases: {'; '.join(parts)}; statistic: per base, mean GM score over seeds at the largest "
            "fraction; the swap must lead the runner-up by more than the runner-up's seed std (ddof 1)")
    return text, missing


def _e1(config, level):
    """Claim E1 (ours, issue 32): the base, its facts, the share edited, the rounds and the seeds."""
    from ..config import base_name, editing_for_base

    ed = config.get("editing") or {}
    seq = ed.get("sequential") or {}
    listed = list(seq.get("bases") or []) if ed.get("base_mlps") else []
    if not listed:
        return "sequential editing not in this config", ["editing.sequential.bases is empty"]
    des = design_of(config, "E1")
    name = des["base"] or listed[0]
    bases = {base_name(b): b for b in ed.get("base_mlps") or []}
    if name not in listed or name not in bases:
        return f"base {name!r}", [f"claims.designs.E1.base {name!r} is not in editing.sequential.bases"]
    eb = editing_for_base(ed, bases[name])
    s = eb.get("sequential") or {}
    n, batch, rounds = int(eb.get("n_subjects", 0)), int(s.get("batch", 0)), int(s.get("rounds", 0))
    seeds = s.get("seeds") or eb.get("seeds", [])
    frac = batch * rounds / n if n else 0.0
    missing = []
    if n < _m("E1_facts", level):
        missing.append(f"base {name}: {n} facts, needs >= {_m('E1_facts', level)}")
    if frac < _m("E1_fraction", level):
        missing.append(f"base {name}: {batch * rounds} of {n} facts edited ({frac:.1%}), needs >= "
                       f"{_m('E1_fraction', level):.0%}")
    if rounds < _m("E1_rounds", level):
        missing.append(f"{rounds} rounds, needs >= {_m('E1_rounds', level)}")
    if len(seeds) < _m("seeds", level):
        missing.append(f"{len(seeds)} seed(s), needs >= {_m('seeds', level)}")
    text = (f"base {name} ({n} facts), {rounds} rounds of {batch} edits ({frac:.1%}), {len(seeds)} seed(s); "
            f"statistic: per round, the mean GM score over seeds of each editor's best sequence; the swap must "
            f"stay >= {float(des['min_score']):g} and above every other editor in every round")
    return text, missing


def _c9(config, level):
    ni = config.get("nichani") or {}
    lin, mlp = ni.get("linear") or {}, ni.get("mlp") or {}
    n_lin = len(lin.get("dims", [])) if "trained" in lin.get("memories", []) else 0
    tr = mlp.get("trained") or {}
    n_mlp = len(tr.get("dims", [])) * len(tr.get("widths", []))
    missing = []
    for label, n in (("trained linear memory (nichani.linear.dims)", n_lin),
                     ("trained MLP memory (nichani.mlp.trained dims x widths)", n_mlp)):
        if n < _m("C9_sizes", level):
            missing.append(f"{label}: {n} sizes, needs >= {_m('C9_sizes', level)}")
    text = (f"trained linear memory at {n_lin} sizes, trained MLP at {n_mlp} sizes, seeds "
            f"{sorted(set(lin.get('seeds', [])) | set(mlp.get('seeds', [])))}; statistic: C per size from the "
            "median N over seeds, spread max/min")
    return text, missing


def _b(config, claim, level):
    des = design_of(config, claim)
    sw = _sweep(config, des["sweep"])
    if sw is None:
        return _no_sweep(des["sweep"])
    pts = _points(sw, des["d_min"])
    which = (f"closed form = {_CLOSED_FORM_B1} (no gradient step on the facts)" if claim == "B1" else
             "fitted = construction_codebook (value codebook fitted by Adam; MLP weights not trained by GD), "
             "build time against GD's training time at the same point")
    text = (f"sweep '{des['sweep']}': {len(pts)} points with d >= {des['d_min']} ({_fmt_points(pts)}), seeds "
            f"{_seeds(sw)}; {which}; statistic: best method / GD per point and seed, median over seeds, then "
            "over points")
    missing = _need_methods(sw, ["gd"], des["sweep"]) + _need_seeds(sw, des["sweep"], level)
    if len(pts) < _m("B_points", level):
        missing.append(f"{len(pts)} points with d >= {des['d_min']}, needs >= {_m('B_points', level)}")
    return text, missing


def claim_designs(config: dict) -> dict[str, dict]:
    """Per claim id: ``{"design": text as configured, "missing": [what the level's minimums lack]}``.

    The level is ``claims.minimums`` (default ``none``: nothing is required, e.g. the tiny config).
    Raises ``ValueError`` naming the key for an unknown level or claim id."""
    section = config.get("claims") or {}
    level = section.get("minimums", "none")
    if level not in LEVELS:
        raise ValueError(f"claims.minimums: {level!r} is not one of {', '.join(LEVELS)}")
    unknown = sorted(set(section.get("designs") or {}) - set(CLAIM_IDS))
    if unknown:
        raise ValueError(f"claims.designs: unknown claim id(s) {', '.join(unknown)}; known: {', '.join(CLAIM_IDS)}")
    builders = {"C1": lambda: _c1_c5(config, "C1", level), "C2": lambda: _c2(config, level),
                "C3": lambda: _c3(config, level), "C4": lambda: _c4(config, level),
                "C5": lambda: _c1_c5(config, "C5", level), "C6": lambda: _c6_c7(config, "C6", level),
                "C7": lambda: _c6_c7(config, "C7", level), "C8": lambda: _c8(config, level),
                "C9": lambda: _c9(config, level), "B1": lambda: _b(config, "B1", level),
                "B2": lambda: _b(config, "B2", level), "E1": lambda: _e1(config, level)}
    out = {}
    for claim in CLAIM_IDS:
        text, missing = builders[claim]()
        out[claim] = {"design": f"[{level}] {text}", "missing": missing if level != "none" else [],
                      "level": level, "params": design_of(config, claim)}
    return out


def apply_designs(claims, designs: dict[str, dict] | None):
    """Fill the ``design`` column; a row whose design misses its level's minimums becomes ``n/a``
    with the missing items in ``evidence`` (its measured value kept, marked as not deciding)."""
    claims = claims.copy()
    claims["design"] = ""
    if not designs:
        return claims
    for i, row in claims.iterrows():
        d = designs.get(row["claim"])
        if d is None:
            continue
        claims.at[i, "design"] = d["design"]
        if d["missing"]:
            claims.at[i, "pass"] = "n/a"
            claims.at[i, "measured_value"] = f"[not deciding: design below minimum] {row['measured_value']}"
            claims.at[i, "evidence"] = f"design misses: {'; '.join(d['missing'])}; {row['evidence']}"
    return claims

