# Helpers shared by the stage files: config validation, wildcard patterns, target lists.
# This is the only rule file with Python logic; stage files only declare rules.
import itertools
import re
from pathlib import Path

from factmlp.claims.design import claim_designs
from factmlp.codehash import code_hash
from factmlp.config import (
    base_name,
    canonical_order,
    editing_for_base,
    fact_set_shape,
    sequential_grid,
    validate_config,
)
from factmlp.registry import is_trained, method_names, reference_of

validate_config(config, workflow.source_path("../schemas/config.schema.yaml"))
# keys sorted at every level: job params (dicts taken from the config) then follow the config's
# values, not its key order, so reformatting a config reruns nothing
canonical_order(config)

FAMILIES = config["embeddings"]["families"]
SWEEPS = config["capacity"]["sweeps"]
SWEEP_BY_NAME = {s["name"]: s for s in SWEEPS}
USABILITY = config["usability"]
USABILITY_SWEEPS = USABILITY["sweeps"]
EDITING = config["editing"]
# editing bases by name (default: the method; names are unique, factmlp.config checks it)
EDIT_BASES = {base_name(b): b for b in EDITING["base_mlps"]}
# bases that run sequential editing (issue 32, claim E1); none when the editing stage is off
SEQ_BASES = list(EDITING["sequential"]["bases"]) if EDIT_BASES else []
NICHANI = config["nichani"]
# Each claim's pre-registered design and what it misses against claims.minimums (rule claims)
CLAIM_DESIGNS = claim_designs(config)


TRAINED_METHODS = [m for m in method_names() if is_trained(m)]
# results/capacity/<this>/...: one job's rows for every closed-form method of a fact set
CLOSED_FORM_DIR = "closed_form"


REPO = _repo  # the repository: scripts/ and src/ (workflow/Snakefile)


def code_of(script):
    """Hash of the contents of ``scripts/<script>`` and of every factmlp module it can import
    (:func:`factmlp.codehash.code_hash`): a rule's ``code`` parameter, so that a job reruns when the
    library code it runs changes, and not when a file is only touched (the profiles turn off
    Snakemake's mtime-based code trigger). `snakemake -n` prints each job's reason."""
    return code_hash(REPO / "scripts" / script, REPO / "src")


def family_keys(family):
    """Keys option of a family: "tied" (follow facts.tied) or "spherical" (untied spherical keys)."""
    return FAMILIES[family].get("keys", "tied")


def n_values(n, family):
    """|V| for |K| = n facts of ``family``."""
    facts = config["facts"]
    return fact_set_shape(
        int(n), FAMILIES[family], tied=facts["tied"], values_per_key=facts["values_per_key"]
    )[1]


def family_params(wildcards):
    """Kind and parameters of the {family} wildcard, as plain values."""
    return dict(FAMILIES[wildcards.family])


def fact_set_params():
    """The settings that define the fact set of the {family, d, n, seed} wildcards (what
    measure_fact_set draws it from). The jobs that read a drawn set take it as ``ancient()`` input
    and these as params: measure_fact_set reruns whenever a closed-form method's settings change
    and rewrites the same set, which by its new mtime alone would rerun every GD search and
    usability job of that set; with ``ancient()`` they rerun only when the set itself changes
    (these params) or their own code does (the code param covers the drawing code they import)."""
    return dict(
        family=family_params,
        d=lambda wc: int(wc.d),
        n_keys=lambda wc: int(wc.n),
        n_values=lambda wc: n_values(wc.n, wc.family),
        tied=lambda wc: config["facts"]["tied"] and family_keys(wc.family) == "tied",
        mapping=config["facts"]["mapping"],
    )


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


def edit_base_settings(base):
    """Settings of an editing base's fact MLP: methods.<method> with the base's own settings over it."""
    b = EDIT_BASES[base]
    return {**method_settings(b["method"]), **b.get("settings", {})}


# Keys of the editing section each editing rule's script reads; the rest (e.g. the fraction list,
# the editor grid, the seed list: a job's seed is its {seed} wildcard) stays out of a job's
# parameters, so that adding an edit fraction or a seed does not retrain the other base models and
# a new editor grid does not either.
EDIT_BASE_KEYS = (
    "d",
    "n_subjects",
    "objects_per_subject",
    "authors",
    "n_train_templates",
    "n_templates",
    "base",
)
EDIT_FACTS_KEYS = ("grid", "editors", "swap_seed")


def edit_config(base):
    """The editing section as base ``base`` runs it: its own ``editing`` overrides over the section."""
    return editing_for_base(EDITING, EDIT_BASES[base])


def editing_settings(keys, base):
    """The ``keys`` of base ``base``'s editing setting (the parameters one editing job reads)."""
    e = edit_config(base)
    return {k: e[k] for k in keys}


def fraction_label(fraction):
    """The {fraction} path component of an edit fraction: 0.05 -> "0.05" (repr, no trailing zeros)."""
    return repr(float(fraction))


def edit_jobs():
    """(base, seed) of every base model: each base at each of its seeds (editing.seeds, or the
    base's own)."""
    return [(b, s) for b in EDIT_BASES for s in edit_config(b)["seeds"]]


def edit_base_tables():
    return [f"results/editing/{b}/s{s}/base.tsv" for b, s in edit_jobs()]


def editing_files():
    return [
        f"results/editing/{b}/s{s}/edits_f{fraction_label(f)}.tsv"
        for b, s in edit_jobs()
        for f in edit_config(b)["fractions"]
    ]


def sequential_jobs():
    """(base, seed) of every sequential-editing run: each listed base at editing.sequential.seeds
    (or all of the base's seeds)."""
    return [
        (b, s)
        for b in SEQ_BASES
        for s in (edit_config(b)["sequential"]["seeds"] or edit_config(b)["seeds"])
    ]


def sequential_files():
    return [f"results/editing/{b}/s{s}/sequential.tsv" for b, s in sequential_jobs()]


def sequential_settings(base):
    """What one sequential job reads: batch, rounds, the editors, the swap seed and the grid (the
    base's grid with editing.sequential.grid over it); the base and seed lists stay out, so that
    adding a base or a seed reruns nothing else."""
    e = edit_config(base)
    seq = e["sequential"]
    return {
        "batch": seq["batch"],
        "rounds": seq["rounds"],
        "editors": e["editors"],
        "swap_seed": e["swap_seed"],
        "grid": sequential_grid(e),
    }


def benchmark_files():
    """{run-time record: rule} of every heavy job: the benchmark: files of the experiment rules
    (usability, edits) and the records the cached rules write themselves as an output
    (factmlp.jobstats; Snakemake forbids benchmark: on a cached rule). Each lies at its job's main
    table's path under results/benchmarks/."""
    bench = lambda f: f.replace("results/", "results/benchmarks/", 1)  # noqa: E731
    jobs = {bench(f): "measure_usability" for f in usability_files()}
    jobs |= {bench(f): "edit_facts" for f in editing_files()}
    jobs |= {bench(f): "edit_base" for f in edit_base_tables()}
    jobs |= {bench(f): "edit_sequential" for f in sequential_files()}
    jobs |= {
        f"results/benchmarks/capacity/{CLOSED_FORM_DIR}/{fam}/d{d}_n{n}_s{s}.tsv": "measure_fact_set"
        for fam, d, n, s in fact_sets()
    }
    jobs |= {
        bench(capacity_file(m, fam, d, n, s)): "measure_capacity"
        for _, m, fam, d, n, s in capacity_jobs()
        if is_trained(m)
    }
    jobs |= {bench(f): "measure_quantized" for f in quantized_files()}
    nichani_rules = {
        "linear": "nichani_memory_capacity",
        "mlp": "nichani_memory_capacity",
        "recall": "nichani_recall_capacity",
        "tradeoff": "nichani_tradeoff",
        "sequential": "nichani_sequential",
    }
    for part in nichani_parts():
        if part in nichani_rules:  # stages: a second output of the sequential jobs
            jobs |= {bench(f): nichani_rules[part] for f in nichani_files(part)}
    return dict(sorted(jobs.items()))


def usability_settings():
    """The usability section's settings that a usability job reads: not its sweeps (each job is
    one point of them) nor ``usable_at``, the figure's threshold (changing it redraws the figure).
    """
    return {k: v for k, v in USABILITY.items() if k not in ("sweeps", "usable_at")}


def capacity_file(method, family, d, n, seed, suffix=""):
    """The table holding ``method``'s capacity row for one fact set: its own job's for a
    GD-trained method, else the fact set's closed-form job's."""
    folder = method if is_trained(method) else CLOSED_FORM_DIR
    return f"results/capacity/{folder}/{family}/d{d}_n{n}_s{seed}{suffix}.tsv"


def reference_files(method, family, d, n, seed):
    """[the capacity table of the method whose result ``method`` is built from, on the same fact
    set] (gd_encdec*: the construction's m' and buckets, in the set's closed-form table), or []."""
    ref = reference_of(method)
    return [capacity_file(ref, family, d, n, seed)] if ref else []


def capacity_files(suffix=""):
    """One file per capacity job of the config (several methods may share one file)."""
    return sorted(
        {capacity_file(m, fam, d, n, s, suffix) for _, m, fam, d, n, s in capacity_jobs()}
    )


def capacity_members():
    """(sweep, method, file) of every capacity search: the aggregation keeps ``method``'s rows of
    ``file`` under ``sweep`` (a fact set shared by two sweeps appears under both)."""
    return [(sw, m, capacity_file(m, fam, d, n, s)) for sw, m, fam, d, n, s in capacity_jobs()]


# replay: a snapshot folder whose stored tables stand in for the aggregation rules (rule
# replay_table), so that the target `replay` redraws figures, claims and report computing no MLP
REPLAY = config.get("replay")
QUANT = config["capacity"].get("quantization")  # None: no quantised-storage stage
if REPLAY and not Path(REPLAY, "tables", "quantized.tsv").is_file():
    QUANT = None  # a snapshot from before the quantisation stage: no quantised figure to redraw
if REPLAY and not Path(REPLAY, "tables", "editing_sequential.tsv").is_file():
    # a snapshot from before sequential editing (issue 32): claim E1 is n/a in its replay
    SEQ_BASES = []


def quantized_sets():
    """(family, d, n, seed) of every fact set of the quantisation design: the points of its sweep
    with d <= d_max."""
    if not QUANT:
        return []
    sweep = SWEEP_BY_NAME[QUANT["sweep"]]
    d_max = QUANT.get("d_max", float("inf"))
    return sorted(
        (fam, p["d"], p["n_facts"], s)
        for fam, p, s in itertools.product(sweep["families"], sweep["points"], sweep["seeds"])
        if p["d"] <= d_max
    )


def quantized_files():
    return [f"results/quantized/{fam}/d{d}_n{n}_s{s}.tsv" for fam, d, n, s in quantized_sets()]


def quantized_inputs(wc):
    """{method: capacity table of this fact set} for every quantised method and the methods they are
    built from (gd_encdec*: the construction)."""
    methods = set(QUANT["methods"]) | {reference_of(m) for m in QUANT["methods"]} - {None}
    return {m: capacity_file(m, wc.family, wc.d, wc.n, wc.seed) for m in sorted(methods)}


def search_params():
    """Parameters of a capacity job besides its methods: seed and the width search's bounds."""
    cap = config["capacity"]
    return dict(
        seed=lambda wc: int(wc.seed),
        width_min=cap["width_min"],
        width_max=cap["width_max"],
        rel_tol=cap["rel_tol"],
    )


def closed_form_methods(family, d, n, seed):
    """Closed-form methods asked of one fact set by any capacity or usability sweep (sorted)."""
    jobs = capacity_jobs() + sweep_jobs(USABILITY_SWEEPS)
    key = (family, int(d), int(n), int(seed))
    return sorted({m for _, m, *fs in jobs if not is_trained(m) and tuple(fs) == key})


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


# Runtime, not science: resources are a rule's defaults here, overridden per site in a profile
# (profiles/gpu, profiles/slurm, profiles/slurm-gpu: set-resources, set-threads) or on the command
# line; they are not part of the config, so changing them reruns nothing (config/README.md).
# mem_mb and runtime (minutes) are what the heaviest job of the CPU smoke and medium scales needs.
# Memory (MB) and runtime (minutes) of one attempt; a retried job (the profiles' retries: 1, after
# an out-of-memory or time-limit kill) asks for `attempt` times as much. A profile's set-resources
# value replaces the rule's (and does not grow).
HEAVY_RESOURCES = {"mem_mb": 4000, "runtime": 60}
LIGHT_RESOURCES = {"mem_mb": 2000, "runtime": 20}


def per_attempt(base):
    """A resource callable: ``base`` on the first attempt, ``attempt * base`` on a retry."""
    return lambda wildcards, attempt: int(base) * int(attempt)


def heavy_resources():
    return {k: per_attempt(v) for k, v in HEAVY_RESOURCES.items()}


def light_resources():
    return {k: per_attempt(v) for k, v in LIGHT_RESOURCES.items()}


STAGES = ("embeddings", "capacity", "usability", "editing", "nichani", "claims")


def stage_outputs(stage):
    """Tables and figures of one stage (the inputs of its target rule, e.g. `snakemake capacity`):
    embeddings (the drawn fact sets and their rho table), capacity (fact sets, rho, min sizes), usability, editing, nichani; claims is results/claims.tsv
    and the slopes table its rule writes (it reads every configured stage's tables). A stage that the config skips has none.
    """
    both = lambda stem: [f"{stem}.{ext}" for ext in ("pdf", "png", "svg")]  # noqa: E731
    if stage == "embeddings":  # every drawn fact set (K, V, f) and the rho table of its values
        files = [f"results/facts/{fam}/d{d}_n{n}_s{s}.pt" for fam, d, n, s in fact_sets()]
        return files + ["results/tables/rho.tsv"]
    if stage == "capacity":
        files = [
            "results/tables/capacity.tsv",
            "results/tables/capacity_probes.tsv",
            "results/tables/rho.tsv",
        ]
        files += [f for s in SWEEPS for f in both(f"results/figures/capacity_{s['name']}")]
        if "scaling" in SWEEP_BY_NAME:
            files += both("results/figures/cost_ratios") + both("results/figures/bits_per_param")
        if QUANT:
            files += ["results/tables/quantized.tsv", *both("results/figures/quantized")]
        # claims C3 and C2 (drawn by plot_claim_figures), always drawn: a figure whose claim's sweep is
        # not configured says so, as the claim's row does
        files += both("results/figures/rho_fit") + both("results/figures/c2_ratios")
        return files
    if stage == "usability":
        return (
            ["results/tables/usability.tsv", *both("results/figures/usability")]
            if USABILITY_SWEEPS
            else []
        )
    if stage == "editing":
        if not EDIT_BASES:
            return []
        files = [
            "results/tables/editing.tsv",
            "results/tables/editing_best.tsv",
            *both("results/figures/editing"),
        ]
        if SEQ_BASES:
            files += [
                "results/tables/editing_sequential.tsv",
                "results/tables/editing_sequential_best.tsv",
                *both("results/figures/editing_sequential"),
            ]
        return files
    if stage == "nichani":
        files = [f"results/tables/nichani_{part}.tsv" for part in nichani_parts()]
        return files + [
            f for fig in nichani_figures() for f in both(f"results/figures/nichani_{fig}")
        ]
    if stage == "claims":
        return [
            "results/claims.tsv",
            "results/claims.tex",
            "results/claims.md",
            "results/tables/slopes.tsv",
            "results/report/tables.html",
        ]
    raise ValueError(f"unknown stage {stage!r}; known: {', '.join(STAGES)}")


def aggregated_tables():
    """results/tables/<name>.tsv written by the aggregation rules under this config (what a replay
    takes from the snapshot instead)."""
    names = ["capacity", "capacity_probes", "rho"]
    names += ["quantized"] if QUANT else []
    names += ["usability"] if USABILITY_SWEEPS else []
    names += ["editing", "editing_best"] if EDIT_BASES else []
    names += ["editing_sequential", "editing_sequential_best"] if SEQ_BASES else []
    names += [f"nichani_{part}" for part in nichani_parts()]
    return names


def replay_outputs():
    """What the target `replay` redraws: every stage's tables, figures and the claims, without the
    per-job artifacts (fact sets, models) that only a full run makes."""
    files = [f for stage in STAGES if stage != "embeddings" for f in stage_outputs(stage)]
    return list(dict.fromkeys(f for f in files if not f.startswith("results/facts/")))


def final_outputs():
    files = list(dict.fromkeys(f for stage in STAGES for f in stage_outputs(stage)))
    if benchmark_files():
        files.append("results/tables/benchmarks.tsv")
    return files


def report_table_inputs(wildcards):
    """The tables the report shows as interactive tables (those this config makes)."""
    inputs = {"claims": "results/claims.tsv", "capacity": "results/tables/capacity.tsv"}
    if USABILITY_SWEEPS:
        inputs["usability"] = "results/tables/usability.tsv"
    if EDIT_BASES:
        inputs["editing_best"] = "results/tables/editing_best.tsv"
    if SEQ_BASES:
        inputs["editing_sequential_best"] = "results/tables/editing_sequential_best.tsv"
    if benchmark_files() and not REPLAY:  # a replay computes no job, so it has no run times
        inputs["runtimes"] = "results/tables/runtimes.tsv"
    return inputs


def claims_inputs(wildcards):
    """Tables the claims read; the usability table only when that stage is configured."""
    inputs = {"capacity": "results/tables/capacity.tsv", "rho": "results/tables/rho.tsv"}
    if USABILITY_SWEEPS:
        inputs["usability"] = "results/tables/usability.tsv"
    if EDIT_BASES:
        inputs["editing"] = "results/tables/editing_best.tsv"
    if SEQ_BASES:
        inputs["sequential"] = "results/tables/editing_sequential_best.tsv"
    for part in ("linear", "mlp", "recall"):
        if part in nichani_parts():
            inputs[f"nichani_{part}"] = f"results/tables/nichani_{part}.tsv"
    return inputs


def method_settings(method):
    """Settings of ``method`` from the config (the device is the job's: factmlp.devices)."""
    return dict(config["methods"].get(method, {}))


def wildcard_patterns():
    """Regexes of every wildcard, from the config and the method registry (no clashes)."""
    return {
        "family": "|".join(map(re.escape, FAMILIES)),
        "method": "|".join(method_names()),
        "base": "|".join(map(re.escape, EDIT_BASES)) or "[^/]+",
        "d": r"\d+",
        "n": r"\d+",
        "seed": r"\d+",
        "sweep": "|".join(re.escape(s["name"]) for s in SWEEPS),
        "fraction": r"[0-9.e-]+",
        "am": "linear|mlp",
        "memory": "outer|trained|ntk",
        "m": r"\d+",
        "heads": r"\d+",
        "dh": r"\d+",
        "model": "linear|softmax",
    }


# ---- Nichani et al. 2024 (workflow/rules/nichani.smk)

NICHANI_PARTS = ("linear", "mlp", "recall", "tradeoff", "sequential", "stages")


def nichani_memory_jobs(am):
    """(memory, d, m, seed) of every capacity search of the ``am`` (linear | mlp) memories."""
    sec = NICHANI[am]
    if am == "linear":
        sizes = [(d, d) for d in sec["dims"]] + [(sec["rank_d"], r) for r in sec["ranks"]]
        per_memory = [(mem, size) for mem in sec["memories"] for size in sizes]
    else:
        per_memory = [
            (mem, size)
            for mem in ("trained", "ntk")
            for size in itertools.product(sec[mem]["dims"], sec[mem]["widths"])
        ]
    return [(mem, d, m, s) for (mem, (d, m)), s in itertools.product(per_memory, sec["seeds"])]


def nichani_files(part):
    """Per-job tables aggregated into results/tables/nichani_{part}.tsv."""
    if part in ("linear", "mlp"):
        return [
            f"results/nichani/{part}/{mem}/d{d}_m{m}_s{s}.tsv"
            for mem, d, m, s in nichani_memory_jobs(part)
        ]
    if part == "recall":
        rec = NICHANI["recall"]
        return [
            f"results/nichani/recall/d{p['d']}_h{p['heads']}_dh{p['head_dim']}_m{p['mlp_width']}_s{s}.tsv"
            for p, s in itertools.product(rec["points"], rec["seeds"])
        ]
    if part == "tradeoff":
        tr = NICHANI["tradeoff"]
        return [
            f"results/nichani/tradeoff/h{h}_m{m}_s{s}.tsv"
            for h, m, s in itertools.product(tr["heads"], tr["mlp_widths"], tr["seeds"])
        ]
    seq = NICHANI["sequential"]
    suffix = "_stages" if part == "stages" else ""
    return [
        f"results/nichani/sequential/{model}_s{s}{suffix}.tsv"
        for model, s in itertools.product(seq["models"], seq["seeds"])
    ]


def nichani_parts():
    """The parts of the Nichani section that are configured (each has a non-empty job list)."""
    return [part for part in NICHANI_PARTS if nichani_files(part)]


def nichani_figures():
    parts = set(nichani_parts())
    figures = {
        "memories": {"linear", "mlp"},
        "recall": {"recall", "tradeoff"},
        "sequential": {"sequential"},
    }
    return [f for f, needs in figures.items() if needs & parts]


def nichani_figure_inputs(figure):
    """Tables of one Nichani figure (only the configured ones), named by part."""
    needs = {
        "memories": ("linear", "mlp"),
        "recall": ("recall", "tradeoff"),
        "sequential": ("sequential", "stages"),
    }[figure]
    return {p: f"results/tables/nichani_{p}.tsv" for p in needs if p in nichani_parts()}


def nichani_memory_settings(wildcards):
    """Settings one memory capacity job reads (the device is the job's): the search's; the training
    settings for a trained memory only; methods.ntk for the NTK memory only (so that neither
    reruns the other memories' jobs)."""
    sec = NICHANI[wildcards.am]
    out = {"search": dict(sec["search"])}
    if wildcards.memory == "trained":
        out["train"] = dict(sec["train"])
    if wildcards.memory == "ntk":
        out["ntk"] = dict(config["methods"].get("ntk", {}))
    return out


def nichani_settings(part):
    """One Nichani part's settings without its job lists (the parameters of one job of that part),
    so that adding a size to the config does not rerun the jobs that exist."""
    lists = {
        "recall": ("points", "seeds"),
        "tradeoff": ("heads", "mlp_widths", "seeds"),
        "sequential": ("models", "seeds"),
    }
    return {k: v for k, v in NICHANI[part].items() if k not in lists[part]}
