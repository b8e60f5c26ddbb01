r"""Sequential learning on the factual-recall task: the "hallucination" stage (Nichani et al. 2024, Sec. 5, Fig. 5).

Both models use orthogonal (one-hot) token embeddings, so d = vocabulary size, one attention
head whose only query is EOS, and a value table V (vocab, D R) that writes answer logits:

``linear`` (the paper's eq. 15)
    logits = sum_t (e_EOS^T A e_{z_t}) V[z_t], linear attention, no softmax, no mask.
``softmax``
    logits = sum_t softmax_t(e_EOS^T A e_{z_t}) V[z_t], the same model with softmax attention
    (the variant kept commented out in the paper's notebook).

A (vocab, vocab) and V start at ``init_scale`` times all-ones (1e-5 in the paper) and train by
plain SGD on fresh batches (no momentum, no weight decay). Three losses are recorded on a fixed
test set of sequences (every (s, r) pair ``eval_repeats`` times):

- ``loss``: the cross-entropy over the D R answers;
- ``relation_loss``: -log of the probability mass on the answer block A_r of the relation, the
  loss of the question "is the answer of the right type?";
- ``subject_loss``: -log of the mass on answers whose index within the block is that of
  a*(s, r), the part only the subject can decide.

A relation-only predictor (uniform over A_r) has loss ln D and relation loss 0: the plateau at
ln D while the relation loss is already ~0 is the stage in which the model confidently answers
with *some* answer of the right type, i.e. hallucinates. The paper uses the structured table
a*(s, r) = rD + floor(sD/|S|) (``FactTask(structured=True)``) for this figure.

:func:`stage_summary` reads the stages off a curve: the step at which the relation is learned
and the step at which the facts are, the hallucination stage lying between them.

Choices (settings): the softmax model averages over the T positions at initialisation, which
divides its gradients by ~T, so it needs a larger SGD step than the linear model (3.0 against the
paper's 0.1 at T = 32 gives both models their three stages within the paper's 8192 steps); the
batch size only sets the gradient noise (the paper's 1024; the smoke scale uses 128). Computed
in float64 from token counts (one-hot embeddings make the order of positions irrelevant).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import torch
from torch import nn

from ..io import derive_seed
from .recall_task import FactTask, answer_table, every_fact_sequences, sample_sequences

__all__ = ["SEQUENTIAL_MODELS", "SequentialSettings", "OrthogonalAttention", "split_losses", "train_sequential",
           "stage_summary"]

log = logging.getLogger("factmlp.nichani.sequential")

SEQUENTIAL_MODELS = ("linear", "softmax")


@dataclass(frozen=True)
class SequentialSettings:
    steps: int = 8192
    batch_size: int = 1024
    lr: float = 0.1
    init_scale: float = 1e-5
    eval_every: int = 64
    eval_repeats: int = 16

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.eval_every < 1 or self.eval_repeats < 1:
            raise ValueError(f"steps, batch_size, eval_every and eval_repeats must be >= 1, got {self}")
        if self.lr <= 0 or self.init_scale < 0:
            raise ValueError(f"need lr > 0 and init_scale >= 0, got lr={self.lr}, init_scale={self.init_scale}")


class OrthogonalAttention(nn.Module):
    """One EOS-query attention head over one-hot embeddings; ``attention`` is linear or softmax."""

    def __init__(self, task: FactTask, attention: str, *, init_scale: float) -> None:
        super().__init__()
        if attention not in SEQUENTIAL_MODELS:
            raise ValueError(f"unknown attention {attention!r}; known: {', '.join(SEQUENTIAL_MODELS)}")
        self.attention, self.eos = attention, task.eos
        n = task.vocab_size
        self.a = nn.Parameter(torch.full((n, n), init_scale, dtype=torch.float64))  # A (vocab, vocab)
        self.v = nn.Parameter(torch.full((n, task.n_answers), init_scale, dtype=torch.float64))  # V (vocab, DR)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # (B, T) -> logits (B, DR)
        # One-hot embeddings make position order irrelevant: with token counts c_v (B, vocab),
        # linear:  sum_t a[z_t] V[z_t] = (c * a) V;  softmax: weights softmax_v(a_v + log c_v) on V.
        counts = torch.zeros(tokens.shape[0], self.v.shape[0], dtype=self.v.dtype)
        counts.scatter_add_(1, tokens, torch.ones(tokens.shape, dtype=self.v.dtype))  # (B, vocab)
        scores = self.a[self.eos]  # (vocab,): e_EOS^T A e_v
        if self.attention == "linear":
            weights = counts * scores[None, :]
        else:
            weights = torch.softmax(scores[None, :] + counts.log(), dim=-1)  # log 0 = -inf: absent tokens
        return weights @ self.v  # (B, DR)


def split_losses(logits: torch.Tensor, targets: torch.Tensor, answers_per_relation: int) -> dict[str, float]:
    """Mean total, relation-only (block mass) and subject-only (within-block index mass) losses."""
    logp = torch.log_softmax(logits.to(torch.float64), dim=-1)  # (B, DR)
    B, n = logp.shape
    D = answers_per_relation
    blocks = logp.view(B, n // D, D)  # (B, R, D)
    rel = targets // D
    idx = targets % D
    return {"loss": float(-logp.gather(1, targets[:, None]).mean()),
            "relation_loss": float(-torch.logsumexp(blocks[torch.arange(B), rel], dim=-1).mean()),
            "subject_loss": float(-torch.logsumexp(blocks[:, :, :].gather(
                2, idx[:, None, None].expand(B, n // D, 1))[..., 0], dim=-1).mean())}


def train_sequential(task: FactTask, attention: str, *, settings: SequentialSettings, seed: int) -> list[dict]:
    """Train one model by SGD; one row per evaluation (step 0 included): step, losses, accuracy."""
    table = answer_table(task, seed=derive_seed(seed, "table"))
    model = OrthogonalAttention(task, attention, init_scale=settings.init_scale)
    test_x, test_y, _, _ = every_fact_sequences(task, table, repeats=settings.eval_repeats,
                                                seed=derive_seed(seed, "test"))
    opt = torch.optim.SGD(model.parameters(), lr=settings.lr)
    g = torch.Generator(device="cpu").manual_seed(derive_seed(seed, "batches"))
    rows, t0 = [], time.perf_counter()

    def evaluate(step: int) -> None:
        with torch.no_grad():
            logits = model(test_x)
        rows.append({"step": step, **split_losses(logits, test_y, task.answers_per_relation),
                     "accuracy": float((logits.argmax(-1) == test_y).double().mean()),
                     "seconds": time.perf_counter() - t0})

    evaluate(0)
    for step in range(1, settings.steps + 1):
        x, y, _, _ = sample_sequences(task, table, settings.batch_size, generator=g)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % settings.eval_every == 0 or step == settings.steps:
            evaluate(step)
            if not math.isfinite(rows[-1]["loss"]):
                raise FloatingPointError(f"{attention} model diverged at step {step} (lr={settings.lr})")
    last = rows[-1]
    log.info("%s attention: %d steps, loss %.4f, relation %.4f, subject %.4f, acc %.3f (%.1fs)", attention,
             settings.steps, last["loss"], last["relation_loss"], last["subject_loss"], last["accuracy"],
             last["seconds"])
    return rows


def stage_summary(curve, *, answers_per_relation: int, n_answers: int, tol: float = 0.1) -> dict:
    """Stages of one loss curve (rows with ``step``, ``loss``, ``relation_loss``).

    ``relation_step``: first step with relation loss <= tol ln D (the block is known);
    ``fact_step``: first step with loss <= tol ln D (the answer is known). The hallucination
    stage is [relation_step, fact_step); ``plateau_loss`` is the median loss over it, to compare
    with ln D, the loss of the relation-only predictor. NaN where a stage is never reached."""
    ln_d = math.log(answers_per_relation)
    steps = [r["step"] for r in curve]
    rel = next((r["step"] for r in curve if r["relation_loss"] <= tol * ln_d), math.nan)
    fact = next((r["step"] for r in curve if r["loss"] <= tol * ln_d), math.nan)
    between = sorted(r["loss"] for r in curve if not math.isnan(rel) and r["step"] >= rel
                     and (math.isnan(fact) or r["step"] < fact))
    plateau = between[len(between) // 2] if between else math.nan
    return {"relation_step": rel, "fact_step": fact,
            "hallucination_steps": ((fact if not math.isnan(fact) else max(steps)) - rel
                                    if not math.isnan(rel) else math.nan),
            "plateau_loss": plateau, "relation_only_loss": ln_d, "uniform_loss": math.log(n_answers)}
