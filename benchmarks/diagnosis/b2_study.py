"""Where construction_codebook's parameters go at the paper's sizes, and what each candidate fix gives
(issue 30, deliverable 3: a fitted construction within 3x of GD at d = 128 and 256, |K| = d^2/8).

    python -m benchmarks b2_study --d 128 [--threads 2]
        [--gd-table docs/results/paper/2026-11-27b/paper_slice_d128.tsv] [--out benchmarks/results/b2_study_d128.tsv]

The fact set is the paper slice's point (spherical, tied, permutation, seed 0, drawn as the pipeline
draws it: :func:`benchmarks.common.pipeline_fact_set`); GD's parameter count at that point is read from
the paper slice's table (GD with the paper's protocol on a GPU; a CPU run of it takes hours), so every ratio here is
against that measured GD. One table, one row per measurement (``case``):

- ``build``: construction_codebook at its smallest storing code dimension m' (searched from
  ``--m-start`` down, each m' built with the method's bucket-size variants and checked on every key);
  the parameter split: gate, up and down matrices with their biases, the rank of the gate and down
  matrices, and the *free numbers* that determine the MLP (rank-one gate: d + h; up rows and biases:
  h (d + 1); down: d m' + d). A rank-one gate and a rank-m' down matrix are counted in full by
  ``param_count`` (as GD's are), so the free numbers bound what these params can carry.
- ``codebook``: the codebook margin (exact, every value) at each m' from 1 to the build's m': the
  smallest m' whose codebook separates every value bounds the exact encoder's width from below:
  with the build's buckets (B of them, one constant neuron per coordinate) h = (B + 1) m', so the
  ``params`` of these rows are what the build would cost at that m' if its codebook stored.
- ``prune`` (candidate "prune neurons no fact needs"): neurons zeroed one at a time, smallest
  ||u_n|| ||W_n|| first, keeping storage on every key; the count removed before the first loss.
- ``knot_rank`` (candidate "share code dimensions across buckets"): numerical rank (1e-6 relative) of
  each knot's m' x d slope change; rank r < m' at a knot would let r neurons replace m' there.
- ``learned_knots`` (candidate "a learned encoder in place of the exact one", at larger buckets
  b = beta d): the knot values of the piecewise-linear encoder, and the decoder, trained by Adam on
  the hinge of every (key, rival) pair (margin 0.02, ``--knot-steps``), from their least-squares
  fit; gates fixed at the bucket boundaries. It trains weights on the facts, so it is not a
  construction in claim B2's sense (no GD on the facts); measured to see whether even training
  lets a parallel-gate encoder hold more than ~d keys per bucket.
- ``hebbian_encoder`` (candidate "the v2 data-dependent Hebbian builder as the encoder"): that builder
  (:func:`factmlp.constructions.hebbian.build_hebbian_mlp`) given as targets the codebook's codes of
  dimension m' decoded by its D (so its down matrix is D times a code readout, and storage is judged
  against the real values), beside the same builder on the values themselves; the smallest storing
  width of each (doubling from 64, then bisection, capped at ``--hebbian-width-max``). Run with
  ``--only hebbian_encoder --code-dim M``.
- ``readout`` (candidate "use the gate and down matrices": distinct gate directions and a full-rank down
  matrix): gates ReLU(g_n . x) with random Gaussian rows g_n (no bias, each neuron active on about half
  the keys), a random Gaussian down matrix W (d x h), and the up matrix U fitted *optimally* for them:
  the logits <W (relu(G k) * U k), v> are linear in U, so storing every fact is a set of linear
  constraints on U, fitted by L-BFGS on the convex squared hinge (margin 1, every (key, rival) pair,
  ``--readout-steps``). Like ``learned_knots`` it fits weights on the facts (not a construction in
  B2's sense); it measures whether merely distinct gates and a full-rank decoder, with the best up
  matrix for them, store more per parameter than the bucket encoder. Run with ``--readout`` at the
  hidden width of 3x GD's params and at the build's width (each loss evaluation is a |K| x |V|
  matrix: minutes at d = 128, hours at d = 256 on two cores).
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from benchmarks.common import pipeline_fact_set
from factmlp.capacity import gallop_bisect
from factmlp.constructions.codebook import CodebookSettings, codebook_margins, fit_codebook
from factmlp.constructions.encoder import EncoderFitError, encoder_layers
from factmlp.constructions.hebbian import build_hebbian_mlp
from factmlp.facts import FactSet, evaluate_mlp
from factmlp.io import write_tsv
from factmlp.mlp import GatedMLP
from factmlp.registry import get_method


def smallest_build(facts: FactSet, m_start: int) -> tuple[int, GatedMLP, str, float]:
    """construction_codebook at the smallest m' <= m_start that stores every fact (downward scan:
    the first m' that fails ends it)."""
    method = get_method("construction_codebook")
    best = None
    for m in range(m_start, 0, -1):
        t0 = time.perf_counter()
        built = None
        for label, variant in method.variants(facts):
            try:
                mlp, _ = variant.build(facts, m, seed=0)
            except EncoderFitError:
                continue
            if evaluate_mlp(mlp, facts)["accuracy"] == 1.0:
                built = (m, mlp, label, time.perf_counter() - t0)
                break
        print(f"  m'={m}: {'stores (' + built[2] + ')' if built else 'does not store'}", flush=True)
        if built is None:
            break
        best = built
    if best is None:
        raise RuntimeError(f"construction_codebook does not store at m' = {m_start}; raise --m-start")
    return best


def split_row(mlp: GatedMLP, m: int) -> dict:
    d, h = mlp.gate.in_features, mlp.hidden
    rank = lambda t: int(torch.linalg.matrix_rank(t, rtol=1e-10))  # noqa: E731
    return {"hidden": h, "params": mlp.param_count(), "gate_params": h * d + h, "up_params": h * d + h,
            "down_params": d * h + d, "gate_rank": rank(mlp.gate.weight), "down_rank": rank(mlp.down.weight),
            "free_numbers": (d + h) + h * (d + 1) + (d * m + d)}


def knot_ranks(mlp: GatedMLP) -> tuple[int, int, int]:
    """(min, max) numerical rank of the up rows of the neurons sharing one gate bias (one knot), and
    the neurons per knot."""
    ranks, sizes = [], []
    for b in torch.unique(mlp.gate.bias):
        rows = mlp.up.weight[mlp.gate.bias == b]
        sv = torch.linalg.svdvals(rows)
        ranks.append(int((sv > 1e-6 * sv[0]).sum()))
        sizes.append(rows.shape[0])
    return min(ranks), max(ranks), max(sizes)


@torch.no_grad()
def prunable(mlp: GatedMLP, facts: FactSet) -> int:
    """Neurons zeroed (smallest ||u|| ||w_down|| first) before storage on every key first fails."""
    mlp = GatedMLP.from_weights(gate_w=mlp.gate.weight, gate_b=mlp.gate.bias, up_w=mlp.up.weight,
                                up_b=mlp.up.bias, down_w=mlp.down.weight.clone(), down_b=mlp.down.bias)
    contrib = mlp.up.weight.norm(dim=1) * mlp.down.weight.norm(dim=0)
    removed = 0
    for n in torch.argsort(contrib).tolist():
        mlp.down.weight[:, n] = 0.0
        if evaluate_mlp(mlp, facts)["accuracy"] < 1.0:
            break
        removed += 1
    return removed


def knot_mlp(x: torch.Tensor, t: torch.Tensor, w: torch.Tensor, dec: torch.Tensor) -> GatedMLP:
    """The gated MLP of the piecewise-linear encoder with knot values ``x`` (B+1, m', d) at ``t``,
    gate direction ``w`` and decoder ``dec`` (d, m'), laid out as the construction lays it
    (:func:`factmlp.constructions.encoder.encoder_layers`, one always-on neuron per coordinate)."""
    gate_w, gate_b, up_w, coord = encoder_layers(x, t, w)
    return GatedMLP.from_weights(gate_w=gate_w, gate_b=gate_b, up_w=up_w, down_w=dec[:, coord], activation="relu")


def learned_knots(facts: FactSet, m: int, beta: float, *, steps: int, lr: float = 0.01,
                  margin: float = 0.02) -> dict:
    """Knot values (and decoder) trained on the facts at bucket size round(beta d); see the module docstring."""
    keys, values, fmap = facts.keys, facts.values, facts.mapping
    n, d = keys.shape
    cb = fit_codebook(values, torch.unique(fmap), m, seed=0, settings=CodebookSettings(init="values"))
    g = torch.Generator().manual_seed(1)
    w = torch.randn(d, generator=g, dtype=torch.float64)
    w = w / w.norm()
    z = keys @ w
    zs = torch.sort(z).values
    b = max(1, round(beta * d))
    starts = list(range(0, n, b))
    pad = 0.5 * float(zs[-1] - zs[0]) / max(n - 1, 1)
    t = torch.tensor([float(zs[0]) - pad] + [0.5 * float(zs[s - 1] + zs[s]) for s in starts[1:]]
                     + [float(zs[-1]) + pad], dtype=torch.float64)
    nb = len(starts)
    bucket = (torch.searchsorted(t, z, right=True) - 1).clamp(0, nb - 1)
    lam = (z - t[bucket]) / (t[bucket + 1] - t[bucket])
    feats = torch.zeros(n, nb + 1, d, dtype=torch.float64)  # e(k) = X . phi(k), linear in the knot values X
    feats[torch.arange(n), bucket] = (1 - lam)[:, None] * keys
    feats[torch.arange(n), bucket + 1] = lam[:, None] * keys
    feats = feats.reshape(n, -1)
    sol = torch.linalg.lstsq(feats, cb.codes[fmap], driver="gelsd").solution  # ((B+1) d, m')
    x0 = sol.T.reshape(m, nb + 1, d).permute(1, 0, 2).contiguous()
    ls_acc = evaluate_mlp(knot_mlp(x0, t, w, cb.decoder), facts)["accuracy"]
    t0 = time.perf_counter()
    x = x0.float().clone().requires_grad_(True)
    dec = cb.decoder.float().clone().requires_grad_(True)
    f32, v32 = feats.float(), values.float()
    opt = torch.optim.Adam([x, dec], lr=lr)
    step = 0
    for step in range(1, steps + 1):
        out = (f32 @ x.permute(1, 0, 2).reshape(m, -1).T) @ dec.T
        scores = (out / out.norm(dim=1, keepdim=True).clamp_min(1e-12)) @ v32.T
        gaps = (scores.gather(1, fmap[:, None]) - scores).scatter(1, fmap[:, None], float("inf"))
        loss = torch.relu(margin - gaps).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 250 == 0 and float(gaps.detach().min()) > 0.5 * margin:
            break
    seconds = time.perf_counter() - t0
    mlp = knot_mlp(x.detach().double(), t, w, dec.detach().double())
    rep = evaluate_mlp(mlp, facts)
    return {"bucket_size": b, "beta": beta, "code_dim": m, "hidden": mlp.hidden, "params": mlp.param_count(),
            "least_squares_accuracy": ls_acc, "accuracy": rep["accuracy"], "min_margin": rep["min_margin"],
            "steps": step, "seconds": round(seconds, 2)}


def random_gate_readout(facts: FactSet, hidden: int, *, steps: int, seed: int = 0) -> dict:
    """The ``readout`` candidate (module docstring): random gates and down matrix, the up matrix fitted
    by L-BFGS on the squared hinge; storage checked on every key with the gated MLP it defines."""
    keys, values, fmap = facts.keys.double(), facts.values.double(), facts.mapping
    n, d = keys.shape
    g = torch.Generator().manual_seed(seed)
    gate_w = torch.randn(hidden, d, generator=g, dtype=torch.float64) / d**0.5
    down_w = torch.randn(d, hidden, generator=g, dtype=torch.float64) / hidden**0.5
    active = torch.relu(keys @ gate_w.T)  # (|K|, h)
    codes = values @ down_w  # (|V|, h): <W z, v> = <z, W^T v>
    up = torch.zeros(hidden, d, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([up], lr=1.0, max_iter=steps, max_eval=2 * steps, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-14)

    def objective():
        logits = (active * (keys @ up.T)) @ codes.T
        short = torch.relu(1.0 - (logits.gather(1, fmap[:, None]) - logits)).scatter(1, fmap[:, None], 0.0)
        return (short**2).sum() / n + 1e-6 * (up**2).sum()

    def closure():
        opt.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    t0 = time.perf_counter()
    opt.step(closure)
    seconds = time.perf_counter() - t0
    loss = objective()  # at the fit's end: the loss and its gradient norm (0 at the convex optimum)
    (grad,) = torch.autograd.grad(loss, up)
    final, grad_norm = float(loss.detach()), float(grad.norm())
    zero = torch.zeros(hidden, dtype=torch.float64)
    mlp = GatedMLP.from_weights(gate_w=gate_w, gate_b=zero, up_w=up.detach(), up_b=zero, down_w=down_w,
                                activation="relu")
    rep = evaluate_mlp(mlp, facts)
    return {"hidden": hidden, "params": mlp.param_count(), "free_numbers": hidden * d, "accuracy": rep["accuracy"],
            "min_margin": rep["min_margin"], "steps": int(opt.state[up]["n_iter"]), "readout_loss": final,
            "readout_grad_norm": grad_norm,
            "seconds": round(seconds, 2)}


def hebbian_encoder(facts: FactSet, m: int, *, width_max: int) -> list[dict]:
    """The ``hebbian_encoder`` rows (module docstring): the smallest width (doubling from 64, then
    bisection; capped at ``width_max``) at which the v2 data-dependent Hebbian builder stores every fact
    with targets (a) the m'-dimensional codes decoded by the codebook's D, (b) the values themselves."""
    cb = fit_codebook(facts.values, torch.unique(facts.mapping), m, seed=0,
                      settings=CodebookSettings(max_seconds=3600.0))  # a study, not a build: may run long when loaded
    decoded = cb.codes @ cb.decoder.T  # (|V|, d): D c_v, what the encoder's output must approximate
    rows = []
    for name, table in (("codes", decoded), ("values", facts.values)):
        targets = table[facts.mapping]
        t0 = time.perf_counter()

        def stores(w: int) -> bool:
            mlp = build_hebbian_mlp(facts.keys, targets, w, seed=0, variant="data_dependent")
            return evaluate_mlp(mlp, facts)["accuracy"] == 1.0

        _, hi = gallop_bisect(stores, lo=0, first=64, limit=width_max, rel_tol=0.0, relative_to="hi")
        found = hi is not None
        d = facts.d
        rows.append({"targets": name, "code_dim": m if name == "codes" else None,
                     "codebook_margin": cb.margin if name == "codes" else None, "found": found,
                     "hidden": hi if found else None, "width_max": width_max,
                     "params": 3 * hi * d + 2 * hi + d if found else None,
                     "seconds": round(time.perf_counter() - t0, 1)})
        print(rows[-1], flush=True)
    return rows


def readout_rows(facts: FactSet, widths: list[int], steps: int, base: dict, ratio) -> list[dict]:
    """The ``readout`` rows at each hidden width (distinct, > 0, ascending)."""
    rows = []
    for h in sorted({h for h in widths if h > 0}):
        r = random_gate_readout(facts, h, steps=steps)
        rows.append({**base, "case": "readout", **r, "ratio_to_gd": ratio(r["params"]),
                     "free_ratio_to_gd": ratio(r["free_numbers"])})
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int | None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--n-facts", type=int, default=0, help="|K| (default d^2/8, the paper slice's point)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--m-start", type=int, default=12, help="code dimension the downward scan starts from")
    ap.add_argument("--gd-table", default="", help="the paper slice's table (GD's params at this point)")
    ap.add_argument("--gd-params", type=int, default=0, help="GD's params at this point (instead of --gd-table)")
    ap.add_argument("--betas", default="1.5,2,3", help="bucket sizes of learned_knots, in units of d")
    ap.add_argument("--knot-steps", type=int, default=3000)
    ap.add_argument("--skip-prune", action="store_true")
    ap.add_argument("--readout", action="store_true", help="run the readout candidate (minutes at d = 128)")
    ap.add_argument("--readout-hidden", default="",
                    help="hidden widths of the readout (default: 3x GD's params and the build's width)")
    ap.add_argument("--only", choices=["readout", "hebbian_encoder"],
                    help="only this candidate's rows (no build): a table of their own, b2_<case>_d<d>.tsv")
    ap.add_argument("--code-dim", type=int, default=0, help="m' of --only hebbian_encoder (the build's m')")
    ap.add_argument("--hebbian-width-max", type=int, default=1024, help="width cap of hebbian_encoder")
    ap.add_argument("--readout-steps", type=int, default=3000, help="L-BFGS iterations of the readout fit")
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    n = args.n_facts or args.d * args.d // 8
    gd = args.gd_params
    if args.gd_table:
        t = pd.read_csv(args.gd_table, sep="\t")
        hit = t[(t["method"] == "gd") & (t["d"] == args.d) & (t["n_facts"] == n) & t["found"]]
        if hit.empty:
            raise SystemExit(f"{args.gd_table}: no found gd row at d={args.d}, n_facts={n}")
        gd = int(hit["param_count"].iloc[0])
    facts = pipeline_fact_set(args.d, n)
    base = {"d": args.d, "n_facts": n, "gd_params": gd or None}
    ratio = (lambda p: round(p / gd, 2) if gd else None)  # noqa: E731
    rows = []
    t0 = time.perf_counter()
    if args.only:
        if args.only == "readout" and not args.readout_hidden:
            raise SystemExit("--only readout needs --readout-hidden (no build gives its width)")
        if args.only == "hebbian_encoder" and args.code_dim < 1:
            raise SystemExit("--only hebbian_encoder needs --code-dim (no build gives its m')")
        if args.only == "readout":
            rows += readout_rows(facts, [int(h) for h in args.readout_hidden.split(",")], args.readout_steps, base,
                                 ratio)
        else:
            rows += [{**base, "case": "hebbian_encoder", **r, "ratio_to_gd": ratio(r["params"]) if r["found"] else None}
                     for r in hebbian_encoder(facts, args.code_dim, width_max=args.hebbian_width_max)]
        out = args.out or f"benchmarks/results/b2_{args.only}_d{args.d}.tsv"
        write_tsv(pd.DataFrame(rows).convert_dtypes(), out)
        print(f"wrote {out} ({time.perf_counter() - t0:.0f} s)")
        return 0
    m, mlp, label, build_s = smallest_build(facts, args.m_start)
    rows.append({**base, "case": "build", "code_dim": m, "variant": label, **split_row(mlp, m),
                 "ratio_to_gd": ratio(mlp.param_count()), "seconds": round(build_s, 2)})
    rows[-1]["free_ratio_to_gd"] = ratio(rows[-1]["free_numbers"])
    print(rows[-1], flush=True)
    anchors = torch.unique(facts.mapping)
    for mm in range(1, m + 1):
        cb = fit_codebook(facts.values, anchors, mm, seed=0, settings=CodebookSettings())
        exact = float(codebook_margins(cb.decoder, cb.codes, facts.values, anchors).min())
        h_floor = mlp.hidden // m * mm  # the build's neurons per code coordinate (B + 1)
        rows.append({**base, "case": "codebook", "code_dim": mm, "min_margin": exact, "stores": exact > 0,
                     "hidden": h_floor, "params": 3 * h_floor * args.d + 2 * h_floor + args.d,
                     "ratio_to_gd": ratio(3 * h_floor * args.d + 2 * h_floor + args.d)})
        print(rows[-1], flush=True)
    lo, hi, per = knot_ranks(mlp)
    rows.append({**base, "case": "knot_rank", "code_dim": m, "neurons_per_knot": per, "knot_rank_min": lo,
                 "knot_rank_max": hi})
    print(rows[-1], flush=True)
    if not args.skip_prune:
        rows.append({**base, "case": "prune", "code_dim": m, "hidden": mlp.hidden, "prunable": prunable(mlp, facts)})
        print(rows[-1], flush=True)
    for beta in (float(x) for x in args.betas.split(",") if x):
        r = learned_knots(facts, m, beta, steps=args.knot_steps)
        rows.append({**base, "case": "learned_knots", **r, "ratio_to_gd": ratio(r["params"])})
        print(rows[-1], flush=True)
    if args.readout:
        widths = ([int(h) for h in args.readout_hidden.split(",")] if args.readout_hidden else
                  [(3 * gd - args.d) // (3 * args.d + 2) if gd else 0, mlp.hidden])
        rows += readout_rows(facts, widths, args.readout_steps, base, ratio)
    out = args.out or f"benchmarks/results/b2_study_d{args.d}.tsv"
    write_tsv(pd.DataFrame(rows).convert_dtypes(), out)
    print(f"wrote {out} ({time.perf_counter() - t0:.0f} s)")
