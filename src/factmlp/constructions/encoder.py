r"""Closed-form gated-MLP encoder: every key mapped *exactly* to its code (float64).

The encoder is a piecewise-linear matrix function along one random direction w:

.. math::
    e(x) = M(w \cdot x)\, x, \qquad M(z) = M_0 + \sum_{\gamma} \mathrm{ReLU}(z - t_\gamma) A_\gamma ,

which is exactly a gated MLP: neuron (gamma, j) has gate row w with bias -t_gamma, up-projection
row A_gamma[j] and writes to code coordinate j. (Our reading of Dugan et al. 2025's "encoder
gadgets": each bucket of keys is one gadget, active only
between its knots, solved in closed form.)

Recipe
------
1. z = K w; sort the keys by z and cut them into buckets of ``bucket_size`` consecutive keys
   (b <= d, so the keys of a bucket are linearly independent for all but a measure-zero set).
   Knots t_0 < ... < t_B: just below the first key, halfway between buckets, just above the last.
2. Unknowns are the knot values M_gamma = M(t_gamma) (m' x d each). A key in bucket gamma with
   lam = (z - t_gamma)/(t_{gamma+1} - t_gamma) must satisfy
   ((1 - lam) M_gamma + lam M_{gamma+1}) k = c_k: one linear system shared by the m' code
   coordinates. We take its minimum-norm solution X = A^T (A A^T)^{-1} C. In key order A A^T is
   block-tridiagonal with b x b blocks, solved by block Cholesky (block Thomas) with one
   factorisation for all m' right-hand sides, plus iterative refinement; cost O((N/b) b^3),
   near-linear in |K|, never a dense |K| x |K| solve.
3. Slopes s_gamma = (M_{gamma+1} - M_gamma)/(t_{gamma+1} - t_gamma); ReLU weights A_0 = s_0,
   A_gamma = s_gamma - s_{gamma-1}. The constant term M_0 x takes ``constant_neurons`` neurons per
   code coordinate: 2 (our first reading of the gadgets, every gate row w): two ReLUs below every
   key, ReLU(z - a1) - ReLU(z - a2) = a2 - a1 for z >= a2; or 1: a neuron whose gate row is 0 with
   bias 1, ReLU(0 x + 1) = 1 on every input (a gated MLP's gate rows need not share w).
   No constant at all (M_0 = 0 imposed, its d m' unknowns dropped, first knot one key span below
   the keys) was tried and is *not* offered: pinning one end of the knot chain makes the key
   system as unstable as forward substitution (code error 1.3e-11 at d=32, |K|=128, b=28, but
   0.4-1.4 at d=64, |K|=512 and d=128, |K|=2048 on spherical, spike, kappa and MiniLM keys, for
   b = d - 4 and b = d; with one free constant per coordinate every case fits to <= 7e-11).

Hidden width h = (B + c) m' with B = ceil(N/b) buckets and c = ``constant_neurons``. Forward
substitution bucket by bucket is unstable (errors grow ~b per bucket) and is deliberately not used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["PiecewiseEncoder", "EncoderFitError", "fit_piecewise_encoder", "encoder_layers", "encoder_width"]


class EncoderFitError(ValueError):
    """The closed-form encoder missed its codes (ill-conditioned key systems); a capacity probe
    that raises it counts as a failure at that size."""


@dataclass(frozen=True)
class PiecewiseEncoder:
    """Gated-MLP encoder weights: e(x) = E [ (U x) * ReLU(G x + g) ], E one-hot (m', h).

    gate_w (h, d), gate_b (h,), up_w (h, d), coord (h,) code coordinate of each neuron.
    """

    gate_w: torch.Tensor
    gate_b: torch.Tensor
    up_w: torch.Tensor
    coord: torch.Tensor
    code_dim: int
    fit_error: float  # max |e(k) - c_k| over the checked keys

    @property
    def hidden(self) -> int:
        return self.gate_w.shape[0]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(n, d) -> (n, m') codes."""
        act = (x @ self.up_w.T) * torch.relu(x @ self.gate_w.T + self.gate_b)  # (n, h)
        out = torch.zeros(x.shape[0], self.code_dim, dtype=x.dtype, device=x.device)
        return out.index_add_(1, self.coord, act)


def encoder_width(n_keys: int, code_dim: int, bucket_size: int, constant_neurons: int = 2) -> int:
    """Hidden width of the encoder: (ceil(n_keys / bucket_size) + constant_neurons) * code_dim."""
    return (math.ceil(n_keys / bucket_size) + constant_neurons) * code_dim


def _blocks(keys, lam_lo, lam_hi, bounds, ridge):
    """Diagonal (b_g x b_g) and super-diagonal (b_g x b_{g+1}) blocks of A A^T (+ ridge I)."""
    diag, upper = [], []
    for g, (s, e) in enumerate(bounds):
        kg = keys[s:e]
        a, b = lam_lo[s:e], lam_hi[s:e]
        blk = (kg @ kg.T) * (a[:, None] * a[None, :] + b[:, None] * b[None, :])
        diag.append(blk + ridge * torch.eye(e - s, dtype=keys.dtype, device=keys.device))
        if g + 1 < len(bounds):
            s2, e2 = bounds[g + 1]
            upper.append((kg @ keys[s2:e2].T) * (b[:, None] * lam_lo[s2:e2][None, :]))
    return diag, upper


def _block_tridiag_factor(diag, upper):
    """Block Cholesky of the SPD block-tridiagonal matrix (diag, upper, upper^T): per block, the
    Cholesky factor of the Schur complement S_g and S_g^{-1} U_g. Factored once per encoder and
    reused by the solve and every refinement step (the factorisation is the cost: b x b solves
    with b right-hand sides, against m' for a solve)."""
    chol, mult = [], []
    for g in range(len(diag)):
        s = diag[g] if g == 0 else diag[g] - upper[g - 1].T @ mult[g - 1]
        lg = torch.linalg.cholesky(s)
        chol.append(lg)
        if g + 1 < len(diag):
            mult.append(torch.cholesky_solve(upper[g], lg))
    return chol, mult


def _block_tridiag_solve(factor, upper, rhs, bounds):
    """Solve (diag, upper, upper^T) Y = rhs given :func:`_block_tridiag_factor`'s ``factor``."""
    chol, mult = factor
    nb = len(chol)
    ys = []
    for g in range(nb):
        r = rhs[bounds[g][0] : bounds[g][1]]
        if g > 0:
            r = r - upper[g - 1].T @ ys[g - 1]
        ys.append(torch.cholesky_solve(r, chol[g]))  # S_g^{-1} r~_g
    out = [None] * nb
    out[-1] = ys[-1]
    for g in range(nb - 2, -1, -1):
        out[g] = ys[g] - mult[g] @ out[g + 1]
    return torch.cat(out)


def _apply_gram(keys, lam_lo, lam_hi, bounds, y):
    """A A^T y without the ridge, block by block."""
    out = []
    for g, (s, e) in enumerate(bounds):
        kg, a, b = keys[s:e], lam_lo[s:e], lam_hi[s:e]
        # contributions through knot g (lower) and knot g+1 (upper)
        lower = a[:, None] * (kg @ _knot_values(keys, lam_lo, lam_hi, bounds, y, g).T)
        upper_ = b[:, None] * (kg @ _knot_values(keys, lam_lo, lam_hi, bounds, y, g + 1).T)
        out.append(lower + upper_)
    return torch.cat(out)


def _knot_values(keys, lam_lo, lam_hi, bounds, y, g):
    """M_g = (A^T y) at knot g: (m', d). Knot g touches bucket g (weight lam_lo) and bucket g-1 (lam_hi)."""
    m = y.shape[1]
    val = torch.zeros(m, keys.shape[1], dtype=keys.dtype, device=keys.device)
    if g < len(bounds):
        s, e = bounds[g]
        val += (y[s:e] * lam_lo[s:e, None]).T @ keys[s:e]
    if g > 0:
        s, e = bounds[g - 1]
        val += (y[s:e] * lam_hi[s:e, None]).T @ keys[s:e]
    return val


def encoder_layers(knot_vals: torch.Tensor, t: torch.Tensor, w: torch.Tensor, *,
                   const_pair: tuple[float, float] | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(gate_w, gate_b, up_w, coord)`` of the encoder whose matrix function M takes the knot values
    ``knot_vals`` (B+1, m', d) at the knots ``t`` (B+1,) along the gate direction ``w`` (recipe step 3):
    B ramps ReLU(z - t_gamma) with the slope changes as up rows, plus M_0 x by one always-on neuron
    per code coordinate (``const_pair`` None) or by the pair ReLU(z - a1) - ReLU(z - a2) below every
    key (``const_pair`` = (a1, a2))."""
    nb, m, d = knot_vals.shape[0] - 1, knot_vals.shape[1], knot_vals.shape[2]
    dt, dev = knot_vals.dtype, knot_vals.device
    slopes = (knot_vals[1:] - knot_vals[:-1]) / (t[1:] - t[:-1])[:, None, None]  # (B, m', d)
    relu_w = torch.cat([slopes[:1], slopes[1:] - slopes[:-1]])  # (B, m', d) slope changes at t_0..t_{B-1}
    if const_pair is not None:
        a1, a2 = const_pair
        const = knot_vals[0] / (a2 - a1)  # (m', d)
        up_w = torch.cat([relu_w.reshape(nb * m, d), const, -const])  # (h, d)
        gate_b = torch.cat([-t[:nb].repeat_interleave(m), torch.full((m,), -a1, dtype=dt, device=dev),
                            torch.full((m,), -a2, dtype=dt, device=dev)])
        coord = torch.arange(m, device=dev).repeat(nb + 2)
        gate_w = w.expand(up_w.shape[0], d).clone()
    else:  # one always-on neuron per coordinate: gate row 0, bias 1
        up_w = torch.cat([relu_w.reshape(nb * m, d), knot_vals[0]])
        gate_b = torch.cat([-t[:nb].repeat_interleave(m), torch.ones(m, dtype=dt, device=dev)])
        coord = torch.arange(m, device=dev).repeat(nb + 1)
        gate_w = torch.cat([w.expand(nb * m, d), torch.zeros(m, d, dtype=dt, device=dev)])
    return gate_w, gate_b, up_w, coord


def fit_piecewise_encoder(
    keys: torch.Tensor,
    codes: torch.Tensor,
    *,
    bucket_size: int,
    seed: int,
    ridge: float = 1e-10,
    refine_steps: int = 2,
    check_keys: int = 4096,
    max_fit_error: float = 1e-6,
    constant_neurons: int = 2,
) -> PiecewiseEncoder:
    """Closed-form encoder with e(k_i) = codes[i] for every key (see the module docstring).

    Parameters
    ----------
    keys : (N, d) float64 keys (distinct projections on a random direction, which holds almost surely).
    codes : (N, m') float64 target codes.
    bucket_size : keys per bucket, b >= 1; b <= d keeps each bucket's keys independent. b > d is
        allowed while the B + 1 knots still have (B + 1) d >= N unknowns per code coordinate (one
        bucket fewer than ceil(N/d), m' fewer neurons): the key system is then (nearly) square and
        its conditioning is checked like any other (d=32, |K|=128, b=43: 3e-11; d=48, |K|=288,
        b=58: 9e-10; d=64, |K|=512, b=74: 0.15, rejected).
    seed : seeds the random direction w.
    ridge : Tikhonov term relative to the mean diagonal of A A^T (needed when b is close to d);
        the iterative refinement then removes its bias.
    refine_steps : iterative-refinement steps against the exact (ridge-free) system.
    check_keys : keys on which the built network is checked; ``fit_error`` is the max error there.
    max_fit_error : relative error on the checked keys above which the fit is rejected with a
        ValueError (square buckets, b = d, can be this ill-conditioned when |K| >> d).
    constant_neurons : neurons per code coordinate for the constant M_0 x: 2 (two ReLUs along w)
        or 1 (gate row 0, gate bias 1); the encoder's outputs are the same.
    """
    keys = keys.to(torch.float64)
    codes = codes.to(torch.float64)
    n, d = keys.shape
    m = codes.shape[1]
    if codes.shape[0] != n:
        raise ValueError(f"codes must have {n} rows (one per key), got {codes.shape[0]}")
    if bucket_size < 1:
        raise ValueError(f"bucket_size must be >= 1, got {bucket_size}")
    if bucket_size > d and (math.ceil(n / bucket_size) + 1) * d < n:
        raise ValueError(f"bucket_size {bucket_size} > d={d} leaves fewer unknowns than keys: "
                         f"(ceil({n}/{bucket_size}) + 1) * {d} < {n}")
    if constant_neurons not in (1, 2):
        raise ValueError(f"constant_neurons must be 1 or 2, got {constant_neurons}")
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    dev = keys.device  # the solve runs where the keys are (CPU or a GPU); w is drawn on the CPU either way
    w = torch.randn(d, generator=g, dtype=torch.float64).to(dev)
    w = w / w.norm()
    z = keys @ w
    order = torch.argsort(z)
    zs, ks, cs = z[order], keys[order], codes[order]
    if n > 1 and float((zs[1:] - zs[:-1]).min()) <= 1e-12 * float(zs.abs().max() + 1):
        raise ValueError("two keys have the same projection on the random direction (duplicate keys?)")
    bounds = [(s, min(s + bucket_size, n)) for s in range(0, n, bucket_size)]
    nb = len(bounds)
    span = float(zs[-1] - zs[0]) if n > 1 else 1.0
    pad = 0.5 * span / max(n - 1, 1)  # half a mean key spacing
    knots = [float(zs[0]) - pad]
    for gi in range(1, nb):
        knots.append(0.5 * float(zs[bounds[gi - 1][1] - 1] + zs[bounds[gi][0]]))
    knots.append(float(zs[-1]) + pad)
    t = torch.tensor(knots, dtype=torch.float64, device=dev)  # (B+1,)
    sizes = torch.tensor([e - s for s, e in bounds], device=dev)
    bucket_of = torch.repeat_interleave(torch.arange(nb, device=dev), sizes)
    lam_hi = (zs - t[bucket_of]) / (t[bucket_of + 1] - t[bucket_of])  # (N,) weight on upper knot
    lam_lo = 1.0 - lam_hi

    diag, upper = _blocks(ks, lam_lo, lam_hi, bounds, 0.0)
    scale = float(torch.stack([blk.diagonal().mean() for blk in diag]).mean())
    diag = [blk + ridge * scale * torch.eye(blk.shape[0], dtype=torch.float64, device=dev) for blk in diag]
    factor = _block_tridiag_factor(diag, upper)
    del diag  # the factor replaces it (10^6 keys at d = 1,024: 8 GB per block list)
    y = _block_tridiag_solve(factor, upper, cs, bounds)
    for _ in range(refine_steps):
        resid = cs - _apply_gram(ks, lam_lo, lam_hi, bounds, y)
        y = y + _block_tridiag_solve(factor, upper, resid, bounds)

    knot_vals = torch.stack([_knot_values(ks, lam_lo, lam_hi, bounds, y, gi) for gi in range(nb + 1)])  # (B+1, m', d)
    const_pair = None
    if constant_neurons == 2:
        a2 = knots[0] - span - pad
        a1 = a2 - span - pad  # ReLU(z-a1) - ReLU(z-a2) = a2 - a1 on every key
        const_pair = (a1, a2)
    gate_w, gate_b, up_w, coord = encoder_layers(knot_vals, t, w, const_pair=const_pair)
    enc = PiecewiseEncoder(gate_w=gate_w, gate_b=gate_b, up_w=up_w, coord=coord,
                           code_dim=m, fit_error=0.0)
    # spot check of the network itself on <= check_keys keys spread over the sorted order
    # (evaluating all N keys costs O(N h d), the price of a full forward pass)
    probe = order[torch.linspace(0, n - 1, min(n, check_keys)).round().long().to(dev)]
    err = float((enc(keys[probe]) - codes[probe]).abs().max())
    if err > max_fit_error * (1.0 + float(codes.abs().max())):
        raise EncoderFitError(
            f"closed-form encoder is not exact (max code error {err:.2e} with bucket_size={bucket_size}, d={d}): "
            f"the key systems are ill-conditioned; use a smaller bucket_size (d - 4 is the default)"
        )
    return PiecewiseEncoder(gate_w=gate_w, gate_b=enc.gate_b, up_w=up_w, coord=coord, code_dim=m, fit_error=err)
