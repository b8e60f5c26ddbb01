"""Tests of factmlp.mlp, factmlp.methods (registry) and factmlp.constructions.ntk."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from numpy.polynomial import hermite_e

from factmlp.constructions.ntk import NTK, NTKSettings, build_ntk_mlp, hermite
from factmlp.embeddings import make_embeddings
from factmlp.facts import FactSet, evaluate_mlp, make_mapping
from factmlp.methods import Method
from factmlp.mlp import ACTIVATIONS, GatedMLP, activation_fn
from factmlp.registry import get_method, method_names
from factmlp.training import GD, GDSettings

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


pytestmark = pytest.mark.usefixtures("single_thread")  # torch on 1 thread (conftest)


def _orthonormal_rows(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, n, generator=g, dtype=torch.float64))
    return q.T.contiguous()


# --------------------------------------------------------------------------- GatedMLP


@pytest.mark.parametrize(("d", "h"), [(1, 1), (4, 3), (16, 100), (64, 7)])
def test_param_count(d, h):
    mlp = GatedMLP(d, h)
    assert mlp.param_count() == 3 * h * d + 2 * h + d
    assert mlp.hidden == h
    assert all(p.dtype == torch.float64 for p in mlp.parameters())


def test_param_count_rectangular():
    mlp = GatedMLP(5, 3, 2)
    assert mlp.param_count() == 2 * (3 * 5 + 3) + (2 * 3 + 2)


def test_forward_matches_formula():
    g = torch.Generator().manual_seed(0)
    h, d = 5, 4
    w = {k: torch.randn(*s, generator=g, dtype=torch.float64) for k, s in
         dict(gw=(h, d), uw=(h, d), dw=(d, h), gb=(h,), ub=(h,), db=(d,)).items()}
    x = torch.randn(7, d, generator=g, dtype=torch.float64)
    for act, f in [("relu", lambda z: np.maximum(z, 0)), ("identity", lambda z: z)]:
        mlp = GatedMLP.from_weights(gate_w=w["gw"], up_w=w["uw"], down_w=w["dw"], gate_b=w["gb"],
                                    up_b=w["ub"], down_b=w["db"], activation=act)
        n = {k: v.numpy() for k, v in w.items()}
        xn = x.numpy()
        expected = ((xn @ n["uw"].T + n["ub"]) * f(xn @ n["gw"].T + n["gb"])) @ n["dw"].T + n["db"]
        np.testing.assert_allclose(mlp(x).numpy(), expected, rtol=0, atol=1e-12)
        assert not any(p.requires_grad for p in mlp.parameters())


def test_from_weights_shape_errors_and_zero_biases():
    gw = torch.zeros(3, 4, dtype=torch.float64)
    with pytest.raises(ValueError):
        GatedMLP.from_weights(gate_w=gw, up_w=torch.zeros(3, 5, dtype=torch.float64),
                              down_w=torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError):
        GatedMLP.from_weights(gate_w=gw, up_w=gw.clone(), down_w=torch.zeros(4, 2, dtype=torch.float64))
    mlp = GatedMLP.from_weights(gate_w=gw, up_w=gw.clone(), down_w=torch.ones(4, 3, dtype=torch.float64))
    assert all(torch.count_nonzero(lin.bias) == 0 for lin in (mlp.gate, mlp.up, mlp.down))


def test_bad_width_and_activation():
    with pytest.raises(ValueError):
        GatedMLP(4, 0)
    with pytest.raises(ValueError, match="tanh"):
        activation_fn("tanh")
    assert set(ACTIVATIONS) == {"relu", "identity", "silu", "gelu"}


# --------------------------------------------------------------------------- registry


def test_lookup_by_name_builds_the_named_class_with_its_settings():
    assert method_names() == sorted(method_names())
    gd = get_method("gd", lr=0.5)
    assert type(gd) is GD and gd.settings.lr == 0.5 and type(get_method("ntk")) is NTK
    with pytest.raises(KeyError, match="unknown method 'gdd'; known methods: .*construction.*gd.*ntk"):
        get_method("gdd")
    with pytest.raises(ValueError, match=r"no setting\(s\) \['learning_rate'\]"):
        get_method("gd", learning_rate=0.5)


def test_every_method_declares_its_search_interface():
    """The capacity search reads size_name, max_size and variants from every method without hasattr:
    each registered method answers them on a small fact set, and the variant labels it gives lead back
    to a method through chosen_variant (as later stages rebuild the search's choice)."""
    keys = make_embeddings("spherical", 16, 16, seed=0)
    facts = FactSet(keys, keys, torch.arange(16))
    for name in method_names():
        method = get_method(name)
        assert method.size_name in {"width", "code_dim", "n_buckets"}, name
        cap = method.max_size(facts)
        assert cap is None or (isinstance(cap, int) and cap >= 1), (name, cap)
        variants = method.variants(facts)
        assert variants and all(isinstance(lab, str) and isinstance(v, Method) for lab, v in variants), name
        for lab, v in variants:
            assert method.chosen_variant(facts, lab) is v or method.chosen_variant(facts, lab).settings == v.settings
        with pytest.raises(ValueError, match="no variant"):
            method.chosen_variant(facts, "no-such-variant")


def test_unknown_method_lists_known_ones():
    with pytest.raises(KeyError) as info:
        get_method("nope")
    msg = str(info.value)
    assert "nope" in msg and "gd" in msg and "ntk" in msg


def test_unknown_setting_is_named():
    with pytest.raises(ValueError, match="bogus_setting"):
        get_method("ntk", bogus_setting=1)
    with pytest.raises(ValueError, match="hermite_degree"):
        get_method("gd", hermite_degree=2)  # a setting of another method


def test_get_method_applies_settings():
    m = get_method("ntk", hermite_degree=2)
    assert isinstance(m, NTK) and m.settings == NTKSettings(hermite_degree=2)
    g = get_method("gd", lr=0.5, epochs=3)
    assert isinstance(g, GD) and g.settings.lr == 0.5 and g.settings.epochs == 3
    assert g.settings.activation == GDSettings().activation
    assert NTK(activation="identity").settings.activation == "identity"  # overrides


def test_schema_method_enum_matches_registry():
    """The schema file lists no method names; the schema that validation uses takes them from the
    registry (factmlp.config.load_schema), and every method may have a settings block."""
    from factmlp.config import load_schema

    raw = yaml.safe_load(SCHEMA.read_text())
    assert "enum" not in raw["$defs"]["method"] and raw["$defs"]["method"]["x-enum-from"] == "methods"
    schema = load_schema(SCHEMA)
    assert schema["$defs"]["method"]["enum"] == method_names()
    sweep = schema["properties"]["capacity"]["properties"]["sweeps"]["items"]["properties"]["methods"]
    assert sweep["items"] == {"$ref": "#/$defs/method"}
    assert set(schema["properties"]["methods"]["properties"]) == set(method_names())


def test_schema_names_come_from_the_code():
    """Editors and embedding family kinds, like methods, are filled in from their one Python list."""
    from factmlp.config import load_schema
    from factmlp.editing.experiment import EDITORS
    from factmlp.embeddings import FAMILY_KINDS

    schema = load_schema(SCHEMA)
    assert schema["$defs"]["editor"]["enum"] == list(EDITORS)
    assert schema["$defs"]["family_kind"]["enum"] == list(FAMILY_KINDS)
    assert schema["properties"]["editing"]["properties"]["editors"]["default"] == list(EDITORS)
    assert load_schema(SCHEMA, methods=["gd"])["$defs"]["method"]["enum"] == ["gd"]


# --------------------------------------------------------------------------- Hermite


@pytest.mark.parametrize("p", range(6))
def test_hermite_matches_numpy(p):
    z = torch.linspace(-4.0, 4.0, 41, dtype=torch.float64)
    coef = np.zeros(p + 1)
    coef[p] = 1.0
    expected = hermite_e.hermeval(z.numpy(), coef) / math.sqrt(math.factorial(p))
    np.testing.assert_allclose(hermite(p, z).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_hermite_orthonormal_under_gaussian():
    """E[h_p h_q] = delta_pq under N(0, 1), by Gauss-Hermite_e quadrature."""
    nodes, weights = hermite_e.hermegauss(20)
    weights = weights / weights.sum()
    z = torch.from_numpy(nodes)
    hs = torch.stack([hermite(p, z) for p in range(6)]).numpy()
    np.testing.assert_allclose((hs * weights) @ hs.T, np.eye(6), atol=1e-10)


def test_hermite_negative_degree():
    with pytest.raises(ValueError):
        hermite(-1, torch.zeros(3))


# --------------------------------------------------------------------------- NTK


def _orthonormal_facts(n: int, d: int, permute: bool) -> FactSet:
    keys = _orthonormal_rows(n, d, seed=31)
    mapping = make_mapping(n, n, kind="permutation", seed=32) if permute else torch.arange(n)
    return FactSet(keys, keys.clone(), mapping)


@pytest.mark.parametrize("permute", [False, True], ids=["identity-map", "random-permutation"])
def test_ntk_wide_stores_orthonormal_facts(permute):
    facts = _orthonormal_facts(16, 16, permute)
    mlp, metrics = get_method("ntk").build(facts, 8192, seed=0)
    assert isinstance(mlp, GatedMLP) and mlp.hidden == 8192 and isinstance(metrics, dict)
    assert mlp.param_count() == 3 * 8192 * 16 + 2 * 8192 + 16
    assert evaluate_mlp(mlp, facts)["accuracy"] == 1.0


def test_ntk_build_is_deterministic_float64():
    facts = _orthonormal_facts(8, 8, True)
    a, _ = NTK().build(facts, 64, seed=5)
    b, _ = NTK().build(facts, 64, seed=5)
    c, _ = NTK().build(facts, 64, seed=6)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert pa.dtype == torch.float64
        assert torch.equal(pa, pb)
    assert not torch.equal(a.gate.weight, c.gate.weight)
    assert not torch.equal(a.up.weight, c.up.weight)
    # structure: unit-norm down columns, zero biases
    torch.testing.assert_close(a.down.weight.norm(dim=0), torch.ones(64, dtype=torch.float64))
    assert all(torch.count_nonzero(lin.bias) == 0 for lin in (a.gate, a.up, a.down))


def test_ntk_width_must_be_positive():
    x = _orthonormal_rows(4, 4, seed=0)
    with pytest.raises(ValueError):
        build_ntk_mlp(x, x, 0, seed=0)


@pytest.mark.parametrize(
    ("activation", "p", "c_p"),
    [
        ("relu", 1, 0.5),  # E[relu(z) z] = 1/2
        ("relu", 2, 1 / (2 * math.sqrt(math.pi))),  # E[relu(z)(z^2-1)]/sqrt 2 = 1/(2 sqrt pi)
        ("identity", 1, 1.0),  # E[z z] = 1
    ],
)
def test_ntk_expected_score(activation, p, c_p):
    """For unit keys, E[<v, F(x_i)>] = (c_p/d) sum_j <v, t_j> <x_i, x_j>^{p+1}, c_p = E[act(z) h_p(z)]
    (E over unit-uniform D columns gives I/d; Hermite orthogonality gives c_p rho^p). The score at
    width m is a mean of m i.i.d. terms, so averaging wide builds approaches the expectation."""
    d, n, m = 8, 6, 200_000
    x = make_embeddings("spherical", n, d, seed=1)
    t = make_embeddings("spherical", n, d, seed=2)
    expected = (c_p / d) * ((x @ x.T) ** (p + 1)) @ (t @ t.T)  # S[i, l] = <t_l, E F(x_i)>
    scores = torch.stack(
        [build_ntk_mlp(x, t, m, seed=s, activation=activation, hermite_degree=p)(x) @ t.T for s in range(4)]
    ).mean(dim=0)
    scale = float(expected.abs().max())
    assert float((scores - expected).abs().max()) < 0.08 * scale


def test_gd_schema_defaults_match_settings_dataclass():
    """The schema's GD defaults and GDSettings' defaults are one set of numbers."""
    import dataclasses

    import yaml

    from factmlp.training import GDSettings

    schema = yaml.safe_load(open(Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml"))
    props = schema["properties"]["methods"]["properties"]["gd"]["properties"]
    fields = {f.name: f.default for f in dataclasses.fields(GDSettings)}
    for key, spec in props.items():
        assert spec["default"] == fields[key], key


def _dataclass_pairs():
    from factmlp.editing.base import BaseSettings
    from factmlp.editing.experiment import EditSettings
    from factmlp.transformer import AttentionSettings, RecallTask

    return [(("usability", "train"), AttentionSettings), (("usability", "task"), RecallTask),
            (("editing", "base"), BaseSettings), (("editing", "grid"), EditSettings)]


@pytest.mark.parametrize(("where", "cls"), _dataclass_pairs(),
                         ids=lambda x: ".".join(x) if isinstance(x, tuple) else "")
def test_schema_defaults_match_settings_dataclasses(where, cls):
    """Schema sections that configure a settings dataclass have exactly its fields and defaults
    (lists in the schema are tuples in the dataclass)."""
    import dataclasses

    path = Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml"
    props = yaml.safe_load(open(path))["properties"][where[0]]["properties"][where[1]]["properties"]
    fields = {f.name: f.default for f in dataclasses.fields(cls)}
    assert set(props) <= set(fields), where
    for key, spec in props.items():
        default = spec.get("default")
        assert (tuple(default) if isinstance(default, list) else default) == fields[key], (where, key)


def test_ntk_key_chunks_give_the_unchunked_hebbian_sum(monkeypatch):
    """U = (1/m) sum_j h_1(G x_j) * (D^T t_j) x_j^T written out in one (N, m) table, against the
    builder forced to chunks of 3 keys (and the storage check forced to batches of 5 keys)."""
    import factmlp.constructions.ntk as ntk_mod
    from factmlp.facts import FactSet, evaluate_mlp

    g = torch.Generator().manual_seed(1)
    x = torch.randn(17, 6, generator=g, dtype=torch.float64)
    t = torch.randn(17, 6, generator=g, dtype=torch.float64)
    width = 40
    ref = build_ntk_mlp(x, t, width, seed=4)  # one chunk: 17 * 40 entries < 2^24
    gate, down = ref.gate.weight, ref.down.weight
    up = ((x @ gate.T) * (t @ down)).T @ x / width  # h_1(z) = z
    monkeypatch.setattr(ntk_mod, "_CHUNK_ELEMENTS", 3 * width)
    chunked = build_ntk_mlp(x, t, width, seed=4)
    torch.testing.assert_close(chunked.up.weight, up, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ref.up.weight, up, rtol=1e-12, atol=1e-12)
    facts = FactSet(x, t, torch.arange(17))
    full = evaluate_mlp(chunked, facts)
    small = evaluate_mlp(chunked, facts, batch_size=5)
    assert full["accuracy"] == small["accuracy"] and full["min_margin"] == pytest.approx(small["min_margin"], abs=1e-12)


def test_registry_manifest_is_the_registered_classes():
    """factmlp.registry.BUILTIN answers name, trained and reference without importing the method
    modules: each line must be what the class registered under that name says, defined in the
    module the line names, and every registered built-in must have a line."""
    from factmlp.registry import BUILTIN, load_builtin

    classes = load_builtin()
    builtin_classes = {n: c for n, c in classes.items() if c.__module__.startswith("factmlp.")}
    assert set(builtin_classes) == set(BUILTIN), sorted(set(builtin_classes) ^ set(BUILTIN))
    for name, line in BUILTIN.items():
        cls = classes[name]
        assert (cls.__module__, cls.trained, cls.reference) == (line.module, line.trained, line.reference), name


def test_registry_lookups_import_no_method_module_and_no_torch():
    """method_names, is_trained and reference_of answer in a fresh interpreter where torch cannot be
    imported (what `snakemake --lint` parses the workflow with)."""
    import subprocess
    import sys

    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'torch': raise ImportError('torch blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from factmlp.registry import method_names, is_trained, reference_of\n"
        "print(len(method_names()), is_trained('gd'), reference_of('gd_encdec'))\n"
        "print(sorted(m for m in sys.modules if m.startswith('factmlp.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    first, loaded = out.stdout.splitlines()
    assert first == f"{len(method_names())} True construction"
    assert loaded == "['factmlp.methods', 'factmlp.registry']", loaded
