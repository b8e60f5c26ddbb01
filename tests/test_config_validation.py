"""Config validation: every bad config fails before any job runs, naming the offending key.

Each bad config is config/config.yaml with exactly one mutation. The expected keys are the
dotted paths that factmlp.config.validate_config reports (``_key`` of the jsonschema error path
for schema errors, the hand-written key for the cross-section checks in ``_check_names``).
"""

from __future__ import annotations

import copy

import pytest

from conftest import (
    DEFAULT_CONFIG,
    MEDIUM_CONFIG,
    PAPER_CONFIG,
    SCHEMA,
    TINY_CONFIG,
    load_yaml,
    output_of,
    run_snakemake,
    write_yaml,
)
from factmlp.config import ConfigError, editing_for_base, validate_config


@pytest.fixture(scope="module")
def base_config() -> dict:
    return load_yaml(DEFAULT_CONFIG)


def _set(path, value):
    def mutate(cfg):
        obj = cfg
        for part in path[:-1]:
            obj = obj[part]
        obj[path[-1]] = value

    return mutate


def _both(*mutations):
    def mutate(cfg):
        for m in mutations:
            m(cfg)

    return mutate


def _del(path):
    def mutate(cfg):
        obj = cfg
        for part in path[:-1]:
            obj = obj[part]
        del obj[path[-1]]

    return mutate


def _rename_top(old, new):
    def mutate(cfg):
        cfg[new] = cfg.pop(old)

    return mutate


def _append(path, item):
    def mutate(cfg):
        obj = cfg
        for part in path:
            obj = obj[part]
        obj.append(copy.deepcopy(item))

    return mutate


def _duplicate_first_sweep(cfg):
    sweeps = cfg["capacity"]["sweeps"]
    sweeps.append(copy.deepcopy(sweeps[0]))


def _add_family(name, spec):
    def mutate(cfg):
        cfg["embeddings"]["families"][name] = dict(spec)

    return mutate


def _minilm_sweep_d512(cfg):
    sweep = cfg["capacity"]["sweeps"][0]
    sweep["families"] = ["minilm"]
    sweep["points"][1]["d"] = 512


# The MiniLM family draws from 29523 usable tokens (factmlp.embeddings.minilm_vocab_size): a fact
# set needing more rows used to pass validation and fail in its measure_fact_set job (issue 17).
MINILM_TOKENS = 29523


def _minilm_decodability(n_facts, family="minilm"):
    return _both(_set(["decodability", "families"], [family]),
                 _set(["decodability", "points"], [{"d": 64, "n_facts": n_facts}]))


def _minilm_sweep_n(n_facts):
    def mutate(cfg):
        sweep = cfg["capacity"]["sweeps"][0]
        sweep["families"] = ["spherical", "minilm"]
        sweep["points"][2]["n_facts"] = n_facts

    return mutate


def _untied(values_per_key):
    return lambda cfg: cfg["facts"].update(tied=False, mapping="random", values_per_key=values_per_key)


# (id, mutation, the key the error must name, a further substring of the message or None)
BAD_CONFIGS = [
    ("width_max-not-integer", _set(["capacity", "width_max"], "big"), "capacity.width_max", "'big'"),
    ("width_max-bool", _set(["capacity", "width_max"], True), "capacity.width_max", "integer"),
    ("point-d-negative", _set(["capacity", "sweeps", 0, "points", 1, "d"], -3), "capacity.sweeps[0].points[1].d", "-3"),
    ("point-d-float", _set(["capacity", "sweeps", 0, "points", 0, "d"], 16.5),
     "capacity.sweeps[0].points[0].d", "16.5"),
    (
        "point-n_facts-zero",
        _set(["capacity", "sweeps", 0, "points", 2, "n_facts"], 0),
        "capacity.sweeps[0].points[2].n_facts",
        None,
    ),
    ("unknown-method", _set(["capacity", "sweeps", 0, "methods"], ["gd", "sgd"]),
     "capacity.sweeps[0].methods[1]", "sgd"),
    (
        "unknown-family-kind",
        _set(["embeddings", "families", "spherical", "kind"], "gaussian"),
        "embeddings.families.spherical.kind",
        "gaussian",
    ),
    (
        "sweep-undefined-family",
        _set(["capacity", "sweeps", 0, "families"], ["spherical", "spike99"]),
        "capacity.sweeps[0].families[1]",
        "spike99",
    ),
    (
        "decodability-undefined-family",
        _set(["decodability", "families"], ["spherical", "nope"]),
        "decodability.families[1]",
        "nope",
    ),
    ("decodability-min_distance-negative", _set(["decodability", "min_distance"], -1e-5),
     "decodability.min_distance", "minimum"),
    ("decodability-max_seconds-zero", _set(["decodability", "max_seconds"], 0), "decodability.max_seconds", "0"),
    ("missing-capacity", _del(["capacity"]), "capacity", "missing required key"),
    (
        "missing-point-n_facts",
        _del(["capacity", "sweeps", 0, "points", 1, "n_facts"]),
        "capacity.sweeps[0].points[1].n_facts",
        "missing required key",
    ),
    ("missing-spike-beta", _del(["embeddings", "families", "spike4", "beta"]),
     "embeddings.families.spike4.beta", "missing"),
    # unknown keys are reported at the key itself, with the keys allowed there
    ("unknown-top-level-key", _rename_top("capacity", "capacty"), "capacty", "unknown key"),
    ("spherical-with-beta", _set(["embeddings", "families", "spherical", "beta"], 1.0),
     "embeddings.families.spherical.beta", "unknown key"),
    ("kappa-below-one", _set(["embeddings", "families", "kappa16", "kappa"], 0.5),
     "embeddings.families.kappa16.kappa", None),
    ("tied-with-random-mapping", _set(["facts", "mapping"], "random"), "facts.mapping", "permutation"),
    (
        "untied-permutation-values_per_key",
        lambda cfg: cfg["facts"].update(tied=False, values_per_key=2.0),
        "facts.values_per_key",
        None,
    ),
    ("width_min-above-width_max", _set(["capacity", "width_min"], 20000), "capacity.width_min", "16384"),
    ("duplicate-sweep-name", _duplicate_first_sweep,
     f"capacity.sweeps[{len(load_yaml(DEFAULT_CONFIG)['capacity']['sweeps'])}].name", "'scaling'"),
    ("minilm-d512-decodability", _both(
        _set(["decodability", "families"], ["minilm"]), _set(["decodability", "points"], [{"d": 512, "n_facts": 256}])),
     "decodability.points[0].d", "384"),
    ("minilm-d512-sweep", _minilm_sweep_d512, "capacity.sweeps[0].points[1].d", "384"),
    # finite sources and other checks that used to fail mid-run (issue 17)
    ("minilm-n_facts-above-vocab-decodability", _minilm_decodability(MINILM_TOKENS + 1),
     "decodability.points[0].n_facts", f"only {MINILM_TOKENS} usable MiniLM vocabulary tokens"),
    ("minilm-n_facts-above-vocab-sweep", _minilm_sweep_n(40000), "capacity.sweeps[0].points[2].n_facts",
     f"at most {MINILM_TOKENS} facts"),
    ("minilm-untied-keys-and-values", _both(_untied(1.0), _minilm_decodability(15000)),
     "decodability.points[0].n_facts", "need 30000 distinct rows"),
    ("minilm-untied-values_per_key", _both(_untied(2.0), _minilm_decodability(10000)),
     "decodability.points[0].n_facts", f"at most {MINILM_TOKENS // 3} facts"),
    ("minilm-spherical-keys-values_per_key",
     _both(_untied(2.0), _add_family("minilm-v", {"kind": "minilm", "keys": "spherical"}),
           _minilm_decodability(15000, "minilm-v")),
     "decodability.points[0].n_facts", "values only"),
    ("spherical-keys-permutation-values_per_key", _set(["facts", "values_per_key"], 2.0), "facts.values_per_key",
     "keys: spherical"),
    ("decodability-points-without-families", _set(["decodability", "points"], [{"d": 8, "n_facts": 8}]),
     "decodability.families", "ignored"),
    ("method-settings-rejected", _set(["methods", "ntk", "whiten_ridges"], [1.0e-3]), "methods.ntk", "whiten"),
    ("construction-bucket_size-above-d", _set(["methods", "construction", "bucket_size"], 64),
     "methods.construction.bucket_size", "capacity.sweeps[0].points[2]"),
    ("usability-unnormalised-keys", _set(["usability", "sweeps", 0, "families"], ["spherical", "spike16u"]),
     "usability.sweeps[0].families[1]", "norm_tolerance"),
    ("decodability-tol-negative", _set(["decodability", "tol"], -1.0e-9), "decodability.tol", None),
    ("decodability-families-without-points", _both(_set(["decodability", "families"], ["spherical"]),
                                                    _set(["decodability", "points"], [])), "decodability.points", None),
    ("family-name-slash", _add_family("spike/8", {"kind": "spike", "beta": 8.0}),
     "embeddings.families.spike/8", "invalid name"),
    ("family-name-underscore", _add_family("spike_8", {"kind": "spike", "beta": 8.0}),
     "embeddings.families.spike_8", "invalid name"),
    ("sweep-name-slash", _set(["capacity", "sweeps", 0, "name"], "a/b"), "capacity.sweeps[0].name", "'a/b'"),
    ("seed-negative", _set(["capacity", "sweeps", 0, "seeds"], [0, -1]), "capacity.sweeps[0].seeds[1]", None),
    ("gd-epochs-zero", _set(["methods", "gd", "epochs"], 0), "methods.gd.epochs", None),
    ("unknown-method-settings", _set(["methods", "sgd"], {}), "methods.sgd", "unknown key"),
    ("device-is-runtime", _set(["device"], "cuda"), "device", "runtime settings"),
    ("resources-are-runtime", _set(["resources"], {"threads": 2}), "resources", "profile"),
    ("unknown-scale", _set(["scale"], "huge"), "scale", "'huge'"),
    ("rel_tol-above-one", _set(["capacity", "rel_tol"], 2), "capacity.rel_tol", None),
    ("no-sweeps", _set(["capacity", "sweeps"], []), "capacity.sweeps", None),
    ("no-families", _set(["embeddings", "families"], {}), "embeddings.families", None),
    # usability stage
    ("usability-gap-order", _set(["usability", "task", "gap_min"], 30), "usability.task.gap_min", "gap_max"),
    ("usability-unknown-schedule", _set(["usability", "schedules"], ["train_forever"]), "usability.schedules[0]", None),
    ("usability-multiplier-zero", _set(["usability", "size_multipliers"], [0, 1]),
     "usability.size_multipliers[0]", None),
    ("usability-usable_at-above-one", _set(["usability", "usable_at"], 1.5), "usability.usable_at", None),
    ("usability-span-one-point", _set(["usability", "span_points"], 1), "usability.span_points", "not a span"),
    ("usability-span-negative", _set(["usability", "span_points"], -2), "usability.span_points", None),
    ("usability-span-not-integer", _set(["usability", "span_points"], 6.5), "usability.span_points", None),
    ("usability-unknown-method", _set(["usability", "sweeps", 0, "methods"], ["gd", "rome"]),
     "usability.sweeps[0].methods[1]", "rome"),
    ("usability-undefined-family", _set(["usability", "sweeps", 0, "families"], ["nope"]),
     "usability.sweeps[0].families[0]", "nope"),
    ("usability-unknown-figure", _set(["usability", "sweeps", 0, "figure"], "heatmap"),
     "usability.sweeps[0].figure", None),
    ("usability-train-unknown-key", _set(["usability", "train", "momentum"], 0.9),
     "usability.train.momentum", "unknown key"),
    # editing stage
    ("editing-no-held-out-template", _set(["editing", "n_train_templates"], 12),
     "editing.n_train_templates", "held-out"),
    ("editing-fraction-one", _set(["editing", "fractions"], [0.1, 1.0]), "editing.fractions[1]", None),
    ("editing-fraction-all", _set(["editing", "fractions"], [0.999]), "editing.fractions[0]", "none preserved"),
    ("editing-unknown-editor", _set(["editing", "editors"], ["mlp_swap", "grace"]), "editing.editors[1]", None),
    # gd_encdec* are built at the construction's m' and buckets of each fact set: the sweep must run it
    ("gd_encdec-without-construction", _set(["capacity", "sweeps", 0, "methods"], ["gd", "gd_encdec", "ntk"]),
     "capacity.sweeps[0].methods[1]", "sweep 'scaling' runs 'gd_encdec'"),
    # quantised storage starts from the float capacity rows of its sweep's methods
    ("quantization-unknown-sweep", _set(["capacity", "quantization", "sweep"], "joint"),
     "capacity.quantization.sweep", "no capacity sweep named 'joint'"),
    ("quantization-method-not-in-sweep", _set(["capacity", "quantization", "methods"], ["gd", "ntk_ustar"]),
     "capacity.quantization.methods[1]", "not a method of sweep 'scaling'"),
    ("quantization-d_max-below-every-point", _set(["capacity", "quantization", "d_max"], 8),
     "capacity.quantization.d_max", "below every d"),
    ("quantization-unknown-format", _set(["capacity", "quantization", "formats"], ["int8", "fp8"]),
     "capacity.quantization.formats[1]", None),
    ("quantization-max_factor-below-one", _set(["capacity", "quantization", "max_factor"], 0.5),
     "capacity.quantization.max_factor", None),
    ("gd_encdec_free-without-construction", _set(["usability", "sweeps", 0, "methods"], ["gd", "gd_encdec_free"]),
     "usability.sweeps[0].methods[1]", "add 'construction' to its methods"),
    ("gd_encdec-settings-code_dim", _set(["methods", "gd_encdec", "code_dim"], 8), "methods.gd_encdec.code_dim",
     "unknown key"),
    ("editing-base-gd_encdec", _set(["editing", "base_mlps"], [{"method": "gd_encdec", "size": 2}]),
     "editing.base_mlps[0].method", "construction"),
    ("editing-base-unknown-method", _set(["editing", "base_mlps"], [{"method": "sgd", "size": 4}]),
     "editing.base_mlps[0].method", None),
    ("editing-base-size-zero", _set(["editing", "base_mlps"], [{"method": "gd", "size": 0}]),
     "editing.base_mlps[0].size", None),
    ("editing-base-twice", _set(["editing", "base_mlps"], [{"method": "gd", "size": 4}, {"method": "gd", "size": 8}]),
     "editing.base_mlps[1].name", "twice"),
    ("editing-base-name-twice", _set(["editing", "base_mlps"], [{"method": "gd", "size": 4, "name": "a"},
                                                                {"method": "construction", "size": 8, "name": "a"}]),
     "editing.base_mlps[1].name", "twice"),
    ("editing-base-bad-settings", _set(["editing", "base_mlps"], [{"method": "construction", "size": 8,
                                                                   "settings": {"bucket_sise": 4}}]),
     "editing.base_mlps[0].settings", "bucket_sise"),
    ("editing-base-bad-name", _set(["editing", "base_mlps"], [{"method": "gd", "size": 4, "name": "a/b"}]),
     "editing.base_mlps[0].name", None),
    ("editing-grid-negative-lr", _set(["editing", "grid"], {"lr": [-0.1]}), "editing.grid.lr[0]", None),
    # editing.seeds: a list, one base model per seed (the single editing.seed it replaced is named)
    ("editing-seed-renamed", _both(_del(["editing", "seeds"]), _set(["editing", "seed"], 3)), "editing.seed",
     "replaced by editing.seeds, a list (one base model per seed, e.g. seeds: [3])"),
    ("editing-seeds-not-a-list", _set(["editing", "seeds"], 0), "editing.seeds", "not of type 'array'"),
    ("editing-seeds-empty", _set(["editing", "seeds"], []), "editing.seeds", None),
    ("editing-seeds-repeated", _set(["editing", "seeds"], [0, 1, 0]), "editing.seeds", "non-unique"),
    ("editing-seeds-negative", _set(["editing", "seeds"], [0, -1]), "editing.seeds[1]", None),
    ("editing-override-seed-renamed", _set(["editing", "base_mlps"], [{"method": "gd", "size": 4,
                                                                       "editing": {"seed": 1}}]),
     "editing.base_mlps[0].editing.seed", "replaced by editing.base_mlps[0].editing.seeds"),
    ("editing-override-seeds-repeated", _set(["editing", "base_mlps"], [{"method": "gd", "size": 4,
                                                                         "editing": {"seeds": [2, 2]}}]),
     "editing.base_mlps[0].editing.seeds", "non-unique"),
    # one base's own editing setting (editing.base_mlps[i].editing): checked as the merged section
    ("editing-override-unknown-key", _set(["editing", "base_mlps"], [{"method": "gd", "size": 4,
                                                                      "editing": {"epochs": 5}}]),
     "editing.base_mlps[0].editing.epochs", "unknown key"),
    ("editing-override-base-unknown-key", _set(["editing", "base_mlps"], [{"method": "gd", "size": 4,
                                                                           "editing": {"base": {"epoch": 5}}}]),
     "editing.base_mlps[0].editing.base.epoch", "unknown key"),
    ("editing-override-base-bad-type", _set(["editing", "base_mlps"], [{"method": "gd", "size": 4,
                                                                        "editing": {"base": {"epochs": 0}}}]),
     "editing.base_mlps[0].editing.base.epochs", None),
    ("editing-override-grid-negative-lr", _set(["editing", "base_mlps"], [{"method": "gd", "size": 4,
                                                                           "editing": {"grid": {"lr": [-1.0]}}}]),
     "editing.base_mlps[0].editing.grid.lr[0]", None),
    ("editing-override-fraction-all", _set(["editing", "base_mlps"], [{"method": "gd", "size": 4,
                                                                       "editing": {"fractions": [0.1, 0.999]}}]),
     "editing.base_mlps[0].editing.fractions", "none preserved"),
    # Nichani et al. stage
    ("nichani-unknown-key", _set(["nichani", "attention"], {}), "nichani.attention", "unknown key"),
    ("nichani-unknown-memory", _set(["nichani", "linear", "memories"], ["outer", "hebbian"]),
     "nichani.linear.memories[1]", "hebbian"),
    ("nichani-dim-zero", _set(["nichani", "linear", "dims"], [8, 0]), "nichani.linear.dims[1]", None),
    ("nichani-rank-not-below-d", _set(["nichani", "linear", "ranks"], [4, 32]), "nichani.linear.ranks[1]", "rank_d=32"),
    ("nichani-min-accuracy-zero", _set(["nichani", "linear", "search", "min_accuracy"], 0),
     "nichani.linear.search.min_accuracy", None),
    ("nichani-train-lr-zero", _set(["nichani", "mlp", "train", "lr"], 0), "nichani.mlp.train.lr", None),
    ("nichani-mlp-dims-without-widths", _set(["nichani", "mlp", "trained", "widths"], []),
     "nichani.mlp.trained.widths", "dims is set"),
    ("nichani-mlp-unknown-memory", _set(["nichani", "mlp", "hebbian"], {"dims": [8], "widths": [8]}),
     "nichani.mlp.hebbian", "unknown key"),
    ("nichani-point-missing-heads", _del(["nichani", "recall", "points", 0, "heads"]), "nichani.recall.points[0].heads",
     "missing required key"),
    ("nichani-point-negative-width", _set(["nichani", "recall", "points", 0, "mlp_width"], -1),
     "nichani.recall.points[0].mlp_width", "-1"),
    ("nichani-recall-size-order", _set(["nichani", "recall", "size_min"], 64), "nichani.recall.size_min", "size_max"),
    ("nichani-recall-empty-lrs", _set(["nichani", "recall", "train", "lrs"], []), "nichani.recall.train.lrs", None),
    ("nichani-tradeoff-heads-without-widths", _set(["nichani", "tradeoff", "mlp_widths"], []),
     "nichani.tradeoff.mlp_widths", "heads is set"),
    ("nichani-task-length-two", _set(["nichani", "tradeoff", "task", "length"], 2),
     "nichani.tradeoff.task.length", None),
    ("nichani-sequential-unknown-model", _set(["nichani", "sequential", "models"], ["rnn"]),
     "nichani.sequential.models[0]", None),
    ("nichani-sequential-negative-lr", _set(["nichani", "sequential", "lr", "softmax"], -1.0),
     "nichani.sequential.lr.softmax", None),
    ("usability-duplicate-sweep",
     lambda cfg: cfg["usability"]["sweeps"].append(copy.deepcopy(cfg["usability"]["sweeps"][0])),
     f"usability.sweeps[{len(load_yaml(DEFAULT_CONFIG)['usability']['sweeps'])}].name", "used twice"),
]

BY_ID = {case[0]: case for case in BAD_CONFIGS}


def _mutated(base: dict, mutate) -> dict:
    cfg = copy.deepcopy(base)
    mutate(cfg)
    return cfg


@pytest.mark.parametrize(
    ("mutate", "key", "detail"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS]
)
def test_bad_config_names_offending_key(base_config, mutate, key, detail):
    cfg = _mutated(base_config, mutate)
    with pytest.raises(ConfigError) as info:
        validate_config(cfg, SCHEMA)
    message = str(info.value)
    assert message.startswith(f"config error at {key}:"), message
    if detail is not None:
        assert detail in message, message


# A subset through the command line (one per kind of check: schema range, registry enum,
# cross-section name, a check that reads package data): Snakemake must stop while parsing,
# before any job. Every case above goes through the same validate_config call in the Snakefile.
CLI_CASES = [
    "minilm-n_facts-above-vocab-decodability",
    "point-d-negative",
    "unknown-method",
    "sweep-undefined-family",
    "gd_encdec-without-construction",
]


@pytest.mark.parametrize("case_id", CLI_CASES)
def test_bad_config_rejected_by_snakemake(base_config, tmp_path, case_id):
    _, mutate, key, _ = BY_ID[case_id]
    bad = write_yaml(_mutated(base_config, mutate), tmp_path / "bad.yaml")
    workdir = tmp_path / "work"
    proc = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", bad, timeout=120)
    out = output_of(proc)
    assert proc.returncode != 0, out
    assert f"config error at {key}:" in out, out
    assert not (workdir / "results").exists(), "a job ran despite the bad config"
    assert not (workdir / "logs").exists(), "a job ran despite the bad config"


def test_mutations_start_from_a_valid_config(base_config):
    """Guard: the unmutated config is valid, so each error above comes from its one mutation."""
    validate_config(copy.deepcopy(base_config), SCHEMA)


def test_valid_config_gets_defaults(base_config):
    cfg = copy.deepcopy(base_config)
    del cfg["facts"]["values_per_key"]
    del cfg["methods"]["gd"]["lr_min"]
    del cfg["capacity"]["width_min"]
    del cfg["capacity"]["sweeps"][0]["seeds"]
    out = validate_config(cfg, SCHEMA)
    assert out is cfg  # validated in place
    assert cfg["facts"]["values_per_key"] == 1.0
    assert cfg["methods"]["gd"]["lr_min"] == 1.0e-6
    assert cfg["methods"]["gd"]["epochs"] == 3000  # given values are kept
    assert cfg["capacity"]["width_min"] == 1
    assert cfg["capacity"]["sweeps"][0]["seeds"] == [0]
    assert "device" not in cfg and "resources" not in cfg  # runtime settings (profiles)


def _minimal_config() -> dict:
    """Only the required keys."""
    sweep = {"name": "s", "methods": ["gd"], "families": ["spherical"], "points": [{"d": 4, "n_facts": 4}]}
    return {
        "scale": "tiny",
        "embeddings": {"families": {"spherical": {"kind": "spherical"}}},
        "capacity": {"sweeps": [sweep]},
    }


def test_minimal_config_gets_every_section():
    """Only the required keys: the optional sections are created from the schema's defaults."""
    cfg = _minimal_config()
    validate_config(cfg, SCHEMA)
    assert cfg["facts"] == {"tied": True, "mapping": "permutation", "values_per_key": 1.0}
    assert cfg["decodability"]["families"] == [] and cfg["decodability"]["points"] == []
    assert cfg["decodability"]["seeds"] == [0]
    assert cfg["methods"]["ntk"] == {}  # construction defaults live in the settings dataclasses
    assert cfg["methods"]["gd"]["epochs"] == 10000
    assert cfg["capacity"]["width_max"] == 65536
    assert cfg["capacity"]["rel_tol"] == 0.05
    # the Nichani stage is off: every job list is empty, the settings have their defaults
    nic = cfg["nichani"]
    assert nic["linear"]["dims"] == [] and nic["linear"]["ranks"] == [] and nic["recall"]["points"] == []
    assert nic["mlp"]["trained"] == {"dims": [], "widths": []} and nic["tradeoff"]["heads"] == []
    assert nic["sequential"]["models"] == [] and nic["sequential"]["lr"] == {"linear": 0.1, "softmax": 3.0}
    assert nic["linear"]["search"]["min_accuracy"] == 1.0 and nic["recall"]["train"]["steps"] == 16384


def test_defaults_are_not_shared_between_configs():
    """Filling a default must copy it: mutating one validated config must not leak into the next."""
    first = validate_config(_minimal_config(), SCHEMA)
    first["decodability"]["seeds"].append(7)
    first["facts"]["tied"] = False
    second = validate_config(_minimal_config(), SCHEMA)
    assert second["decodability"]["seeds"] == [0]
    assert second["facts"]["tied"] is True


@pytest.mark.parametrize("path", [DEFAULT_CONFIG, TINY_CONFIG, PAPER_CONFIG, MEDIUM_CONFIG],
                         ids=["config", "tiny", "paper", "medium"])
def test_shipped_configs_are_valid(path):
    if not path.exists():
        pytest.skip(f"{path.name} does not exist yet")
    validate_config(load_yaml(path), SCHEMA)


@pytest.mark.parametrize("mutate", [_minilm_decodability(MINILM_TOKENS), _both(_untied(1.0),
                                    _minilm_decodability(MINILM_TOKENS // 2))], ids=["tied", "untied"])
def test_minilm_at_the_vocabulary_size_is_valid(base_config, mutate):
    """The limit is exact: as many rows as usable tokens pass (14761 + 14761 = 29522 rows untied)."""
    validate_config(_mutated(base_config, mutate), SCHEMA)


def test_unnormalised_family_with_spherical_keys_is_valid_for_usability(base_config):
    """keys: spherical gives unit keys, whatever the values' norms: no norm error."""
    validate_config(_mutated(base_config, _set(["usability", "sweeps", 0, "families"], ["spike16u-v"])), SCHEMA)


def test_non_mapping_config_is_rejected():
    with pytest.raises(ConfigError, match=r"^config error at <top level>:"):
        validate_config(["not", "a", "mapping"], SCHEMA)


def test_decodability_defaults_are_the_library_defaults(base_config):
    """The schema's defaults of the rho guards are the ones factmlp.decodability documents (its
    docstrings give the reasons); a run that sets neither behaves as a library call that passes neither."""
    from factmlp import decodability

    cfg = copy.deepcopy(base_config)
    cfg["decodability"].pop("min_distance", None)
    cfg["decodability"].pop("max_seconds", None)
    validate_config(cfg, SCHEMA)
    assert cfg["decodability"]["min_distance"] == decodability.MIN_DISTANCE
    assert cfg["decodability"]["max_seconds"] == decodability.MAX_SECONDS


def test_editing_override_merges_base_and_grid_key_by_key(base_config):
    """A base's own editing setting: d, n_subjects, fractions replace the section's, base and grid
    are merged key by key; a base without one runs exactly the section (its jobs' parameters stay)."""
    cfg = copy.deepcopy(base_config)
    cfg["editing"]["sequential"] = {}  # its bases are the default config's
    cfg["editing"]["base_mlps"] = [
        {"method": "construction", "size": 8, "name": "small"},
        {"method": "construction", "size": 8, "name": "big",
         "editing": {"n_subjects": 4096, "fractions": [0.1], "base": {"epochs": 6}, "grid": {"steps": [100]}}},
    ]
    validate_config(cfg, SCHEMA)
    ed = cfg["editing"]
    section = copy.deepcopy(ed)
    assert editing_for_base(ed, ed["base_mlps"][0]) == section
    big = editing_for_base(ed, ed["base_mlps"][1])
    assert (big["n_subjects"], big["fractions"], big["d"]) == (4096, [0.1], section["d"])
    assert big["base"] == {**section["base"], "epochs": 6} and big["base"]["lr"] == section["base"]["lr"]
    assert big["grid"] == {**section["grid"], "steps": [100]} and big["grid"]["lr"] == section["grid"]["lr"]
    assert ed == section  # the section itself is not changed


def test_editing_seeds_default_and_a_base_replaces_them(base_config):
    """editing.seeds defaults to [0] when absent; a base's own ``seeds`` replaces the section's list
    (not merged), and the other bases keep the section's."""
    cfg = copy.deepcopy(base_config)
    del cfg["editing"]["seeds"]
    cfg["editing"]["sequential"] = {}  # its bases are the default config's
    cfg["editing"]["base_mlps"] = [{"method": "gd", "size": 4, "name": "a"},
                                   {"method": "gd", "size": 4, "name": "b", "editing": {"seeds": [5, 7]}}]
    validate_config(cfg, SCHEMA)
    ed = cfg["editing"]
    assert ed["seeds"] == [0]
    assert [editing_for_base(ed, b)["seeds"] for b in ed["base_mlps"]] == [[0], [5, 7]]


def test_canonical_order_sorts_every_mapping_in_place_and_keeps_values():
    from factmlp.config import canonical_order

    cfg = {"b": {"z": 1, "a": [{"y": 2, "x": 3}, 4]}, "a": None}
    same = canonical_order(cfg)
    assert same is cfg and list(cfg) == ["a", "b"]
    assert list(cfg["b"]) == ["a", "z"] and list(cfg["b"]["a"][0]) == ["x", "y"]
    assert cfg == {"a": None, "b": {"a": [{"x": 3, "y": 2}, 4], "z": 1}}
    assert repr(canonical_order({"y": 2, "x": 3})) == repr(canonical_order({"x": 3, "y": 2}))


def test_a_fact_set_larger_than_the_machine_is_refused_naming_the_point():
    from factmlp.config import ConfigError, _check_fits_in_memory

    def fail(key, msg):
        raise ConfigError(f"config error at {key}: {msg}")

    tied = {"tied": True, "values_per_key": 1.0}
    # 1e9 keys x d 64 x 8 bytes = 476.8 GiB against a 24 GiB machine
    where = "capacity.sweeps[0].points[1]"
    with pytest.raises(ConfigError, match=r"points\[1\]: n_facts=1000000000 at d=64 needs 476.8 GiB"):
        _check_fits_in_memory({"d": 64, "n_facts": 10**9}, tied, where, fail, memory=24 * 2**30)
    _check_fits_in_memory({"d": 64, "n_facts": 10**6}, tied, "x", fail, memory=24 * 2**30)  # 0.5 GiB: fine
    # untied: keys and values both count (2 x 3e7 x 128 x 8 bytes = 57.2 GiB)
    with pytest.raises(ConfigError, match="57.2 GiB"):
        _check_fits_in_memory({"d": 128, "n_facts": 3 * 10**7}, {"tied": False, "values_per_key": 1.0}, "x", fail,
                              memory=24 * 2**30)


def test_validate_config_refuses_a_billion_facts(base_config):
    from factmlp.config import ConfigError, machine_memory_bytes

    if machine_memory_bytes() is None or machine_memory_bytes() > 10**9 * 16 * 8:
        pytest.skip("this machine's memory is unknown or holds a billion 16-dimensional facts")
    cfg = copy.deepcopy(base_config)
    cfg["capacity"]["sweeps"][0]["points"][0] = {"d": 16, "n_facts": 10**9}
    with pytest.raises(ConfigError, match=r"capacity.sweeps\[0\].points\[0\]: n_facts=1000000000"):
        validate_config(cfg, SCHEMA)


@pytest.mark.parametrize(("mutate", "key", "says"), [
    (lambda s: s.update(bases=["nope"]), "editing.sequential.bases[0]", "no editing base named 'nope'"),
    (lambda s: s.update(batch=26), "editing.sequential.batch", "260 of its 256 facts"),
    (lambda s: s.update(seeds=[7]), "editing.sequential.seeds", "no seed(s) [7]"),
    (lambda s: s.update(grid={"memit_lambda": ["big"]}), "editing.sequential.grid.memit_lambda", "not of type"),
    (lambda s: s.update(rounds=0), "editing.sequential.rounds", ""),
])
def test_bad_sequential_editing_settings_name_the_key(base_config, mutate, key, says):
    cfg = copy.deepcopy(base_config)
    mutate(cfg["editing"]["sequential"])
    with pytest.raises(ConfigError) as info:
        validate_config(cfg, SCHEMA)
    assert str(info.value).startswith(f"config error at {key}") and says in str(info.value), str(info.value)


def test_sequential_settings_of_a_base_merge_over_the_section(base_config):
    cfg = copy.deepcopy(base_config)
    cfg["editing"]["base_mlps"][0]["editing"] = {"sequential": {"batch": 5}}
    validate_config(cfg, SCHEMA)
    seq = editing_for_base(cfg["editing"], cfg["editing"]["base_mlps"][0])["sequential"]
    assert seq["batch"] == 5 and seq["rounds"] == cfg["editing"]["sequential"]["rounds"]
    assert seq["grid"] == cfg["editing"]["sequential"]["grid"]
