# Helpers shared by the stage files: config validation, wildcard patterns, target lists.
# This is the only rule file with Python logic; stage files only declare rules.
import itertools
import re

from factmlp.config import validate_config
from factmlp.methods import method_names

validate_config(config, workflow.source_path("../schemas/config.schema.yaml"))

FAMILIES = config["embeddings"]["families"]
SWEEPS = config["capacity"]["sweeps"]
SWEEP_BY_NAME = {s["name"]: s for s in SWEEPS}
USABILITY = config["usability"]
USABILITY_SWEEPS = USABILITY["sweeps"]
EDITING = config["editing"]
EDIT_SIZES = {b["method"]: b["size"] for b in EDITING["base_mlps"]}


def n_values(n):
    """|V| for |K| = n facts."""
    facts = config["facts"]
    return int(n) if facts["tied"] else max(1, round(facts["values_per_key"] * int(n)))


def family_params(wildcards):
    """Kind and parameters of the {family} wildcard, as plain values."""
    return dict(FAMILIES[wildcards.family])


def capacity_jobs():
    """(sweep, method, family, d, n, seed) for every capacity search in the config."""
    return sweep_jobs(SWEEPS)


def sweep_jobs(sweeps):
    """(sweep, method, family, d, n, seed) for every job of a list of sweeps."""
    return [
        (sweep["name"], method, family, point["d"], point["n_facts"], seed)
        for sweep in sweeps
        for method, family, point, seed in itertools.product(
            sweep["methods"], sweep["families"], sweep["points"], sweep["seeds"]
        )
    ]


def usability_files():
    return [
        f"results/usability/{m}/{fam}/d{d}_n{n}_s{s}.tsv"
        for _, m, fam, d, n, s in sweep_jobs(USABILITY_SWEEPS)
    ]


def editing_settings():
    """The editing section without its base MLP list (the parameters of one editing job)."""
    return {k: v for k, v in EDITING.items() if k != "base_mlps"}


def fraction_label(fraction):
    """The {fraction} path component of an edit fraction: 0.05 -> "0.05" (repr, no trailing zeros)."""
    return repr(float(fraction))


def editing_files():
    return [
        f"results/editing/{m}/edits_f{fraction_label(f)}.tsv"
        for m in EDIT_SIZES
        for f in EDITING["fractions"]
    ]


def benchmark_files():
    """benchmark: files of the heavy experiment rules (cached rules cannot have one: Snakemake
    forbids benchmark + cache on one rule, so artifact rules are cached and experiments timed)."""
    files = [f.replace("results/usability/", "results/benchmarks/usability/") for f in usability_files()]
    files += [f.replace("results/editing/", "results/benchmarks/editing/") for f in editing_files()]
    return sorted(set(files))


def usability_settings():
    """The usability section without its sweeps (the parameters of one usability job)."""
    return {k: v for k, v in USABILITY.items() if k != "sweeps"}


def capacity_files(suffix=""):
    return [
        f"results/capacity/{m}/{fam}/d{d}_n{n}_s{s}{suffix}.tsv"
        for _, m, fam, d, n, s in capacity_jobs()
    ]


def fact_sets():
    """(family, d, n, seed) of every fact set: those of the capacity sweeps and the rho-only sets."""
    jobs = capacity_jobs() + sweep_jobs(USABILITY_SWEEPS)
    sets = {(fam, d, n, s) for _, _, fam, d, n, s in jobs}
    dec = config["decodability"]
    for fam, point, seed in itertools.product(dec["families"], dec["points"], dec["seeds"]):
        sets.add((fam, point["d"], point["n_facts"], seed))
    return sorted(sets)


def rho_files():
    return [f"results/rho/{fam}/d{d}_n{n}_s{s}.tsv" for fam, d, n, s in fact_sets()]


def heavy_resources():
    return dict(config["resources"]["heavy"])


def light_resources():
    return dict(config["resources"]["light"])


def final_outputs():
    tables = [
        "results/tables/capacity.tsv",
        "results/tables/capacity_probes.tsv",
        "results/tables/rho.tsv",
        "results/claims.tsv",
        "results/tables/slopes.tsv",
    ]
    figures = [
        f"results/figures/capacity_{s['name']}.{ext}" for s in SWEEPS for ext in ("pdf", "png")
    ]
    if "scaling" in SWEEP_BY_NAME:
        figures += ["results/figures/cost_ratios.pdf", "results/figures/cost_ratios.png"]
    if EDIT_SIZES:
        tables += ["results/tables/editing.tsv", "results/tables/editing_best.tsv"]
        figures += ["results/figures/editing.pdf", "results/figures/editing.png"]
    if benchmark_files():
        tables.append("results/tables/benchmarks.tsv")
    if USABILITY_SWEEPS:
        tables.append("results/tables/usability.tsv")
        figures += ["results/figures/usability.pdf", "results/figures/usability.png"]
    return tables + figures


def claims_inputs(wildcards):
    """Tables the claims read; the usability table only when that stage is configured."""
    inputs = {"capacity": "results/tables/capacity.tsv", "rho": "results/tables/rho.tsv"}
    if USABILITY_SWEEPS:
        inputs["usability"] = "results/tables/usability.tsv"
    if EDIT_SIZES:
        inputs["editing"] = "results/tables/editing_best.tsv"
    return inputs


def method_settings(method):
    """Settings of ``method`` from the config; GD methods also get the configured device."""
    settings = dict(config["methods"].get(method, {}))
    if method in ("gd", "gd_encdec"):
        settings["device"] = config["device"]
    return settings


def wildcard_patterns():
    """Regexes of every wildcard, from the config and the method registry (no clashes)."""
    return {
        "family": "|".join(map(re.escape, FAMILIES)),
        "method": "|".join(method_names()),
        "d": r"\d+",
        "n": r"\d+",
        "seed": r"\d+",
        "sweep": "|".join(re.escape(s["name"]) for s in SWEEPS),
        "fraction": r"[0-9.e-]+",
    }
