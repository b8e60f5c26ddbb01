"""Tests of the ``factmlp`` command (factmlp.cli): build, rho and check on tables written to disk.

Storage is verified independently of the library: the saved safetensors weights are read with
numpy and ``argmax_v <g(k), v>`` is computed here against the map. rho is checked on value sets
whose rho is known by hand. Bad inputs must stop with exit code 1 and one line naming the file
and the problem, before any computation. The builds are tiny (d = 8, 16 facts, a short codebook
fit) so the whole file runs in seconds.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file
from safetensors.torch import save_file

from factmlp.cli import CLIError, main, parse_settings
from factmlp.facts import FactSet

ROOT = Path(__file__).resolve().parent.parent
D, N_KEYS, N_VALUES = 8, 16, 12
FAST = ["--setting", "codebook_steps=200", "-q"]  # a short codebook fit: the tables are tiny


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: the tables are tiny, and on a busy 2-core machine more threads make the
    codebook fit's small steps several times slower (oversubscription), not faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tables(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keys = rng.standard_normal((N_KEYS, D))
    values = rng.standard_normal((N_VALUES, D))
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    mapping = rng.integers(0, N_VALUES, N_KEYS)
    mapping[:N_VALUES] = rng.permutation(N_VALUES)  # every value is someone's target
    return keys, values, mapping


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    """Keys as .npy, values as .pt (a dict holding one tensor), the map as .safetensors."""
    root = tmp_path_factory.mktemp("cli")
    keys, values, mapping = _tables(np.random.default_rng(0))
    paths = {"keys": root / "keys.npy", "values": root / "values.pt", "map": root / "map.safetensors"}
    np.save(paths["keys"], keys)
    torch.save({"emb": torch.from_numpy(values)}, paths["values"])
    save_file({"f": torch.from_numpy(mapping)}, str(paths["map"]))
    return {"root": root, "keys": keys, "values": values, "map": mapping,
            **{f"{k}_path": str(v) for k, v in paths.items()}}


@pytest.fixture(scope="module")
def built(data) -> dict:
    """One ``factmlp build --smallest`` with the default method, shared by the tests that read it."""
    out, report = data["root"] / "mlp.safetensors", data["root"] / "report.json"
    t0 = time.perf_counter()
    argv = ["build", data["keys_path"], data["values_path"], "--map", data["map_path"], "--out", str(out),
            "--smallest", "--report", str(report), *FAST]
    return {"out": out, "report": report, "argv": argv, "code": main(argv), "seconds": time.perf_counter() - t0}


def _forward(path: Path, keys: np.ndarray) -> np.ndarray:
    """g(K) of a saved MLP, computed with numpy from its weights (independent of GatedMLP)."""
    w = load_file(str(path))
    for name in ("gate", "up", "down"):  # an int8/int4 file: weight = q * scale, one scale per row
        if f"{name}.qweight" in w:
            scale = w[f"{name}.scale"].astype(np.float64)
            w[f"{name}.weight"] = w[f"{name}.qweight"].astype(np.float64) * scale[:, None]
    w = {k: v.astype(np.float64) for k, v in w.items()}
    with safe_open(str(path), framework="np") as fh:
        act = fh.metadata()["activation"]
    gate = keys @ w["gate.weight"].T + w["gate.bias"]
    gate = {"relu": lambda z: np.maximum(z, 0.0), "identity": lambda z: z}[act](gate)
    hidden = (keys @ w["up.weight"].T + w["up.bias"]) * gate
    return hidden @ w["down.weight"].T + w["down.bias"]


def _n_stored(path: Path, keys: np.ndarray, values: np.ndarray, mapping: np.ndarray) -> int:
    scores = _forward(path, keys) @ values.T
    best = scores.argmax(axis=1)
    # a tie for the best score is a failure (as in the library's check)
    runner_up = np.sort(scores, axis=1)[:, -2]
    return int(((best == mapping) & (scores.max(axis=1) > runner_up)).sum())


# --------------------------------------------------------------------------- build and check


def test_build_smallest_stores_every_fact_and_says_so(data, built, capsys):
    assert built["code"] == 0
    assert built["out"].is_file()
    # verified here with numpy, not with the library's evaluation
    assert _n_stored(built["out"], data["keys"], data["values"], data["map"]) == N_KEYS
    rep = json.loads(built["report"].read_text())
    assert rep["stored_all"] is True and rep["n_stored"] == N_KEYS and rep["accuracy"] == 1.0
    assert rep["min_margin"] > 0
    h = rep["hidden"]
    assert rep["params"] == 3 * h * D + 2 * h + D  # every weight and bias of the gated MLP
    # information: the map is not a bijection (16 keys, 12 values), so |K| log2|V| bits
    assert rep["map_kind"] == "random" and rep["bits_basis"] == "|K| log2|V|"
    assert rep["bits"] == pytest.approx(N_KEYS * math.log2(N_VALUES))
    assert rep["bits_per_param"] == pytest.approx(N_KEYS * math.log2(N_VALUES) / rep["params"])
    # "smallest": with rel_tol 0 the search probed the size just below the chosen one and it failed
    if rep["size"] > 1:
        below = [p for p in rep["search"]["probes"] if p["variant"] == rep["variant"] and p["width"] == rep["size"] - 1]
        assert below and not below[0]["success"]
    with safe_open(str(built["out"]), framework="np") as fh:
        meta = fh.metadata()
    assert meta["method"] == "construction_codebook" and int(meta["size"]) == rep["size"]
    assert json.loads(meta["settings"])["codebook_steps"] == 200


def test_build_prints_the_storage_report(data, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    code = main(["build", data["keys_path"], data["values_path"], "--map", data["map_path"], "--out", str(out),
                 "--method", "ntk", "--size", "1", "-q"])
    text = capsys.readouterr().out
    n = _n_stored(out, data["keys"], data["values"], data["map"])
    assert n < N_KEYS  # one hidden unit cannot store 16 facts in 12 values
    assert code == 2
    assert f"facts stored  {n}/{N_KEYS}" in text and "NOT every fact is stored" in text
    assert "parameters    34 (hidden width 1, d 8)" in text  # 3 h d + 2 h + d
    bits = N_KEYS * math.log2(N_VALUES)  # 12^16 maps
    line = f"information   {bits:.6g} bits (|K| log2|V|: the map is a random map), {bits / 34:.4g} bits per parameter"
    assert line in text


def test_build_whose_codebook_fit_runs_out_of_time_is_an_error_naming_the_setting(data, tmp_path, capsys):
    """A bounded solver that runs out of time is a clear error (exit 1), not a traceback or a shorter fit."""
    out = tmp_path / "m.safetensors"
    code = main(["build", data["keys_path"], data["values_path"], "--map", data["map_path"], "--out", str(out),
                 "--method", "construction_codebook", "--size", "3", "--setting", "codebook_max_seconds=1e-9", "-q"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("factmlp: error:")
    assert "codebook_max_seconds" in err and "nothing written" in err
    assert not out.exists()


def test_build_quantize_int4_stores_per_row_integers_and_checks_them(data, tmp_path, capsys):
    files = [data["keys_path"], data["values_path"], "--map", data["map_path"], "--method", "ntk", "--size", "64",
             "-q"]
    flt, q4, rep = tmp_path / "f.safetensors", tmp_path / "q4.safetensors", tmp_path / "q4.json"
    main(["build", *files, "--out", str(flt)])
    code = main(["build", *files, "--out", str(q4), "--quantize", "int4", "--report", str(rep)])
    text = capsys.readouterr().out
    raw, ref = load_file(str(q4)), load_file(str(flt))
    assert "up.weight" not in raw and raw["up.qweight"].dtype == np.int8 and raw["up.scale"].dtype == np.float32
    for name in ("gate", "up", "down"):  # numpy's own symmetric per-row int4 of the float build
        w = ref[f"{name}.weight"]
        amax = np.abs(w).max(axis=1)
        scale = np.where(amax > 0, amax / 7, 1.0).astype(np.float32).astype(np.float64)
        assert np.array_equal(raw[f"{name}.scale"].astype(np.float64), scale)
        assert np.array_equal(raw[f"{name}.qweight"], np.clip(np.round(w / scale[:, None]), -7, 7))
    n = _n_stored(q4, data["keys"], data["values"], data["map"])
    assert code == (0 if n == N_KEYS else 2) and f"facts stored  {n}/{N_KEYS}" in text
    # 4 bits per weight (3 * 64 * 8), a float32 scale per row (64 + 64 + 8) and float32 biases (64 + 64 + 8)
    wbits = 4 * 3 * 64 * 8 + 32 * (136 + 136)
    assert f"stored as     int4 (symmetric per output row, float32 scales and biases): {wbits} weight bits" in text
    assert json.loads(rep.read_text())["quantization"]["weight_bits"] == wbits
    assert main(["check", str(q4), data["keys_path"], data["values_path"], "--map", data["map_path"]]) == code
    assert f"{wbits} weight bits" in capsys.readouterr().out


def test_build_quantize_bf16_saves_bf16_tensors(data, tmp_path):
    out = tmp_path / "b.safetensors"
    main(["build", data["keys_path"], data["values_path"], "--map", data["map_path"], "--method", "ntk", "--size",
          "64", "-q", "--out", str(out), "--quantize", "bf16"])
    with safe_open(str(out), framework="pt") as fh:
        assert {fh.get_tensor(k).dtype for k in fh.keys()} == {torch.bfloat16}  # noqa: SIM118
        assert fh.metadata()["quantization"] == "bf16"
    # --scale-dtype without an int format: an error before any compute, nothing written
    assert main(["build", data["keys_path"], data["values_path"], "--out", str(tmp_path / "x.safetensors"),
                 "--quantize", "bf16", "--scale-dtype", "bfloat16"]) == 1
    assert not (tmp_path / "x.safetensors").exists()


def test_check_agrees_with_build_and_catches_a_wrong_map(data, built, tmp_path, capsys):
    assert built["code"] == 0
    capsys.readouterr()
    assert main(["check", str(built["out"]), data["keys_path"], data["values_path"], "--map", data["map_path"]]) == 0
    text = capsys.readouterr().out
    assert f"facts stored  {N_KEYS}/{N_KEYS}" in text and "every fact is stored" in text
    # another map: the MLP stores the old one, so check must fail by the count numpy gives
    wrong = (data["map"] + 1) % N_VALUES
    np.save(tmp_path / "wrong.npy", wrong)
    n = _n_stored(built["out"], data["keys"], data["values"], wrong)
    assert main(["check", str(built["out"]), data["keys_path"], data["values_path"], "--map",
                 str(tmp_path / "wrong.npy")]) == 2
    assert f"facts stored  {n}/{N_KEYS}" in capsys.readouterr().out


def test_check_reads_a_saved_fact_set_for_all_three_tables(data, built, tmp_path):
    """A FactSet file holds keys, values and mapping: each role picks its own tensor by name."""
    fs = tmp_path / "facts.pt"
    FactSet(torch.from_numpy(data["keys"]), torch.from_numpy(data["values"]), torch.from_numpy(data["map"])).save(fs)
    assert main(["check", str(built["out"]), str(fs), str(fs), "--map", str(fs)]) == 0


def test_build_identity_map_from_safetensors(tmp_path, capsys):
    """No --map: key i -> value i. Tables from one .safetensors file, picked with --*-tensor; a given
    size of the paper's construction (m' = d decodes exactly, by the definition of rho)."""
    rng = np.random.default_rng(1)
    keys = rng.standard_normal((10, 6))
    values = rng.standard_normal((10, 6))
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    save_file({"k": torch.from_numpy(keys), "v": torch.from_numpy(values)}, str(tmp_path / "t.safetensors"))
    out = tmp_path / "m.safetensors"
    code = main(["build", str(tmp_path / "t.safetensors"), str(tmp_path / "t.safetensors"), "--keys-tensor", "k",
                 "--values-tensor", "v", "--out", str(out), "--method", "construction", "--size", "6", "-q"])
    assert code == 0
    assert _n_stored(out, keys, values, np.arange(10)) == 10
    text = capsys.readouterr().out
    assert "every fact is stored (10/10)" in text and "code_dim      6 (given size)" in text
    # the identity map is a bijection: log2(10!) bits, 10! = 3,628,800 maps
    params = int(next(x for x in text.splitlines() if x.startswith("parameters")).split()[1])
    bits = math.log2(3_628_800)
    assert f"information   {bits:.6g} bits (log2(|K|!): the map is a permutation map), {bits / params:.4g}" in text


# --------------------------------------------------------------------------- rho


def _rho_of(values: np.ndarray, tmp_path: Path, capsys, name: str) -> tuple[float, np.ndarray, str]:
    np.save(tmp_path / f"{name}.npy", values)
    out = tmp_path / f"{name}_sep.npy"
    assert main(["rho", str(tmp_path / f"{name}.npy"), "--out", str(out), "-q"]) == 0
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if x.startswith("rho(V)"))
    return float(line.split()[1]), np.load(out), text


@pytest.mark.parametrize(
    "name, values, rho",
    [
        # two values: a_12 is one unit vector, u = a_12 gives <u, a_12> = 1
        ("two", np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]), 1.0),
        # equilateral triangle on the unit circle: a_12 and a_13 are 60 degrees apart, the closest
        # point of their segment to the origin is their midpoint, at cos(30 deg)
        ("triangle", np.array([[math.cos(a), math.sin(a)] for a in (0.0, 2 * math.pi / 3, 4 * math.pi / 3)]),
         math.sqrt(3) / 2),
        # square: the neighbours' directions are 90 degrees apart (the diagonal's lies beyond
        # their segment), so rho = cos(45 deg)
        ("square", np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]]) / math.sqrt(2), math.sqrt(2) / 2),
    ],
)
def test_rho_matches_hand_values(name, values, rho, tmp_path, capsys):
    got, seps, _ = _rho_of(values, tmp_path, capsys, name)
    assert got == pytest.approx(rho, abs=2e-6)  # printed to 6 significant digits
    if name != "two":  # symmetric sets centred at 0: the best separator of v_i is v_i's direction
        assert np.allclose(seps, values / np.linalg.norm(values, axis=1, keepdims=True), atol=1e-7)
    assert np.allclose(np.linalg.norm(seps, axis=1), 1.0)


def test_rho_reports_undecodable_values(tmp_path, capsys):
    """Three collinear values: the middle one lies in the hull of the others (rho = 0)."""
    got, seps, text = _rho_of(np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]), tmp_path, capsys, "line")
    assert got == 0.0
    assert "undecodable   1 value(s)" in text and "rows 1" in text
    assert np.all(seps[1] == 0)


# --------------------------------------------------------------------------- bad inputs


@pytest.fixture()
def bad(tmp_path, data) -> dict:
    """Files with one problem each (and the good ones to pair them with)."""
    keys, values, mapping = data["keys"], data["values"], data["map"]
    files = {
        "keys1d": keys[0], "keys3d": keys[None], "keys_nan": np.where(np.eye(N_KEYS, D) > 0, np.nan, keys),
        "values_inf": np.where(np.eye(N_VALUES, D) > 0, np.inf, values), "values_d7": values[:, :7],
        "map_short": mapping[:-1], "map_range": np.where(np.arange(N_KEYS) == 3, N_VALUES, mapping),
        "map_frac": mapping + 0.5, "map_2d": mapping[:, None], "one_value": values[:1],
        "map_zero": np.zeros(N_KEYS, dtype=np.int64),
    }
    paths = {k: tmp_path / f"{k}.npy" for k in files}
    for k, arr in files.items():
        np.save(paths[k], arr)
    (tmp_path / "keys.csv").write_text("1,2\n")
    (tmp_path / "broken.npy").write_bytes(b"not a numpy file")
    save_file({"a": torch.zeros(3, D), "b": torch.zeros(3, D)}, str(tmp_path / "two.safetensors"))
    torch.save([1, 2, 3], tmp_path / "list.pt")
    save_file({"w": torch.zeros(2, 2)}, str(tmp_path / "notmlp.safetensors"))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    from factmlp.io import save_mlp
    from factmlp.mlp import GatedMLP

    nan = GatedMLP.from_weights(gate_w=torch.ones(2, D, dtype=torch.float64), up_w=torch.full((2, D), float("nan"),
                                dtype=torch.float64), down_w=torch.ones(D, 2, dtype=torch.float64))
    save_mlp(nan, tmp_path / "nan.safetensors")
    return {"dir": tmp_path, **{k: str(v) for k, v in paths.items()}}


def _cases(d: dict, b: dict) -> list[tuple[list[str], str, list[str]]]:
    """(argv, the file the message must name, phrases it must contain)."""
    K, V, M = d["keys_path"], d["values_path"], d["map_path"]
    out = str(b["dir"] / "out.safetensors")
    missing = str(b["dir"] / "nope.npy")

    def build(keys=K, values=V, *extra, map_=M):
        return ["build", keys, values, *(["--map", map_] if map_ else []), "--out", out, *extra, "-q"]

    return [
        (build(missing), missing, ["no such file"]),
        (build(str(b["dir"] / "keys.csv")), "keys.csv", ["unknown file type", ".npy"]),
        (build(str(b["dir"] / "broken.npy")), "broken.npy", ["not a .npy file"]),
        (build(str(b["dir"] / "objects.npy")), "objects.npy", ["pickled data", "does not load"]),
        (build(b["keys1d"]), b["keys1d"], ["2-D", "(8,)"]),
        (build(b["keys3d"]), b["keys3d"], ["2-D", "(1, 16, 8)"]),
        (build(b["keys_nan"]), b["keys_nan"], ["NaN/inf", "row 0, column 0"]),
        (build(K, b["values_inf"]), b["values_inf"], ["NaN/inf"]),
        (build(K, b["values_d7"]), b["values_d7"], ["d=7", "d=8", K]),
        (build(K, V, map_=b["map_short"]), b["map_short"], ["15 entries", "16 keys", K]),
        (build(K, V, map_=b["map_range"]), b["map_range"], ["[0, 12)", "entry 3 is 12"]),
        (build(K, V, map_=b["map_frac"]), b["map_frac"], ["must be integers", "entry 0"]),
        (build(K, V, map_=b["map_2d"]), b["map_2d"], ["1-D", "(16, 1)"]),
        (build(K, V, map_=None), V, ["pass --map", K, "16 rows", "12"]),
        (build(K, b["one_value"], map_=b["map_zero"]), b["one_value"], ["at least 2 values"]),
        (build(str(b["dir"] / "two.safetensors")), "two.safetensors", ["a, b", "--keys-tensor"]),
        (build(K, str(b["dir"] / "list.pt")), "list.pt", ["list", "not a tensor"]),
        (build(K, V, "--method", "magic"), "magic", ["unknown method", "construction_codebook"]),
        (build(K, V, "--setting", "codebook_stepz=3"), "codebook_stepz", ["no setting", "codebook_steps"]),
        (build(K, V, "--setting", "codebook_steps=fast"), "codebook_steps", ["expects an integer", "fast"]),
        (build(K, V, "--setting", "fewer_buckets=-1"), "fewer_buckets", ["must be >= 0"]),
        (build(K, V, "--setting", "nokey"), "nokey", ["key=value"]),
        (build(K, V, "--method", "gd", "--setting", "device=cdua"), "device=cdua", ["not a device"]),
        *([] if torch.cuda.is_available() else
          [(build(K, V, "--method", "gd", "--setting", "device=cuda"), "device=cuda", ["no CUDA GPU"])]),
        (build(K, V, "--method", "construction", "--setting", "bucket_sizes=abc"), "bucket_sizes",
         ["refuses it", "abc"]),
        (["build", K, V, "--map", M, "--out", str(b["dir"] / "no" / "such" / "m.safetensors")], "m.safetensors",
         ["does not exist"]),
        (["build", K, V, "--map", M, "--out", "/proc/m.safetensors"], "/proc/m.safetensors", ["cannot be written"]),
        (build(K, V, "--report", "/proc/r.json"), "/proc/r.json", ["--report cannot be written"]),
        (["check", str(b["dir"] / "nan.safetensors"), K, V, "--map", M], "nan.safetensors", ["up.weight", "NaN"]),
        (build(K, V, "--size", "0"), "--size", [">= 1, got 0"]),
        (build(K, V, "--size", "9"), "--size 9", ["code_dim <= 8"]),
        (["build", K, V, "--map", M, "--out", str(b["dir"] / "out.bin")], "out.bin", [".safetensors"]),
        (["build", K, V, "--map", M], "--out", ["required"]),
        (["check", str(b["dir"] / "notmlp.safetensors"), K, V, "--map", M], "notmlp.safetensors",
         ["not an MLP saved by factmlp"]),
        (["check", str(b["dir"] / "nope.safetensors"), K, V], "nope.safetensors", ["no such file"]),
        (["check", missing, K, V], missing, ["must be .safetensors"]),
        (["rho", b["one_value"]], b["one_value"], ["at least 2 values"]),
        (["rho", b["keys_nan"]], b["keys_nan"], ["NaN/inf"]),
        (["rho", V, "--out", str(b["dir"] / "s.txt")], "s.txt", ["--out", ".npy"]),
    ]


def test_each_bad_input_gets_a_clear_error_quickly(data, bad, capsys):
    main(["rho", bad["one_value"], "-q"])  # warm the imports: the timings below are the checks alone
    parse_settings("construction_codebook", [])
    capsys.readouterr()
    failures = []
    for argv, names, phrases in _cases(data, bad):
        t0 = time.perf_counter()
        code = main(argv)
        seconds = time.perf_counter() - t0
        err = capsys.readouterr().err
        line = [x for x in err.splitlines() if x.startswith("factmlp: error: ")]
        problems = []
        if code != 1:
            problems.append(f"exit code {code}")
        if len(line) != 1:
            problems.append("no single 'factmlp: error:' line")
        elif names not in line[0] or not all(p in line[0] for p in phrases):
            problems.append(f"message {line[0]!r} lacks {names!r} or {phrases}")
        if "Traceback" in err:
            problems.append("traceback")
        if seconds > 3.0:
            problems.append(f"took {seconds:.1f} s")
        if problems:
            failures.append(f"{argv}: {'; '.join(problems)}")
    assert not (bad["dir"] / "out.safetensors").exists()  # nothing written for a bad input
    assert not (bad["dir"] / "no").exists()  # a missing --out folder is refused, not created
    assert not failures, "\n".join(failures)


def test_check_rejects_an_mlp_of_another_dimension(data, built, tmp_path, capsys):
    keys = np.random.default_rng(2).standard_normal((N_KEYS, D + 1))
    np.save(tmp_path / "k9.npy", keys)
    np.save(tmp_path / "v9.npy", keys[:N_VALUES])
    assert main(["check", str(built["out"]), str(tmp_path / "k9.npy"), str(tmp_path / "v9.npy"),
                 "--map", data["map_path"]]) == 1
    err = capsys.readouterr().err
    assert "k9.npy" in err and "d=9" in err and "d=8" in err and "mlp.safetensors" in err


def test_parse_settings_types():
    s = parse_settings("construction_codebook", ["codebook_steps=300", "bucket_slacks=0,4", "codebook_lr=1e-2",
                                                 "projection=gaussian", "whiten=true", "whiten_ridges=[\"off\", 0.1]"])
    assert s == {"codebook_steps": 300, "bucket_slacks": (0, 4), "codebook_lr": 0.01, "projection": "gaussian",
                 "whiten": True, "whiten_ridges": ("off", 0.1)}
    with pytest.raises(CLIError, match="expects a number"):
        parse_settings("construction_codebook", ["codebook_lr=fast"])
    with pytest.raises(CLIError, match="expects true or false"):
        parse_settings("construction_codebook", ["whiten=maybe"])


# --------------------------------------------------------------------------- the installed command


def test_console_script_is_declared_and_runs(tmp_path):
    """``factmlp`` as installed by pip (pyproject's [project.scripts]) runs main() and exits with its
    code (one run: each start imports torch, seconds on a busy machine)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["factmlp"] == "factmlp.cli:main"
    exe = Path(sys.executable).with_name("factmlp")
    assert exe.is_file(), f"{exe} missing: reinstall the package (pip install -e .)"
    bad = subprocess.run([str(exe), "rho", str(tmp_path / "w.npy")], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert bad.returncode == 1, bad.stderr
    assert bad.stdout == ""
    assert bad.stderr.strip() == f"factmlp: error: {tmp_path / 'w.npy'}: no such file"


def test_a_long_build_reports_its_stages_as_it_goes(tmp_path, capsys, monkeypatch):
    """A build whose first probe waits on rho(V) of many values and on a codebook fit shows those
    stages' progress on stderr while they run (not only once a probe ends), and -q silences it.
    The stages log every PROGRESS_SECONDS; set to 0 here so that a small table shows every record."""
    import factmlp.constructions.codebook as codebook
    import factmlp.decodability as decodability

    monkeypatch.setattr(decodability, "PROGRESS_SECONDS", 0.0)
    monkeypatch.setattr(codebook, "PROGRESS_SECONDS", 0.0)
    rng = np.random.default_rng(3)
    values = rng.standard_normal((600, D))
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    np.save(tmp_path / "k.npy", rng.standard_normal((600, D)))
    np.save(tmp_path / "v.npy", values)
    args = ["build", str(tmp_path / "k.npy"), str(tmp_path / "v.npy"), "--size", "6", "--setting",
            "codebook_steps=75"]
    main([*args, "--out", str(tmp_path / "a.safetensors")])
    err = capsys.readouterr().err
    assert "  ... rho(V): 256 of 600 values solved" in err and "  ... rho(V): 512 of 600 values solved" in err, err
    assert "  ... codebook m'=6: step 25 of 75" in err, err  # its first evaluation (eval_every 25)
    assert err.index("rho(V): 256") < err.index("codebook m'=6")  # in the order the stages ran
    main([*args, "--out", str(tmp_path / "b.safetensors"), "-q"])
    assert "rho(V)" not in capsys.readouterr().err
