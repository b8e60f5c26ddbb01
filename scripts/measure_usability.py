"""Adapter: usability of one method's MLPs on one fact set (rule `measure_usability`)."""

import pandas as pd
import torch

from factmlp.devices import acquire_device, gpus_requested
from factmlp.facts import FactSet
from factmlp.io import setup_logging, write_tsv
from factmlp.registry import get_method, is_trained
from factmlp.schemas import schema_columns
from factmlp.tables import settings_json
from factmlp.transformer import AttentionSettings, RecallTask
from factmlp.usability import UsabilitySettings, measure_usability, settings_dict

log = setup_logging(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
device = acquire_device(gpus_requested(snakemake.resources))  # noqa: F821  (runtime: factmlp.devices)
p, wc = snakemake.params, snakemake.wildcards  # noqa: F821
u = p.usability
task = RecallTask(**u["task"])
train = AttentionSettings(**u["train"], device=device)
settings = UsabilitySettings(size_multipliers=tuple(u["size_multipliers"]), schedules=tuple(u["schedules"]),
                             norm_tolerance=u["norm_tolerance"], power_iters=u["power_iters"],
                             span_points=u["span_points"])
facts = FactSet.load(snakemake.input.facts)  # noqa: F821
method = get_method(wc.method, **{**p.settings, **({"device": device} if is_trained(wc.method) else {})})
cap = pd.read_csv(snakemake.input.capacity, sep="\t")  # noqa: F821
cap = cap[cap["method"] == wc.method].iloc[0]  # a closed-form job's table has a row per method
variant = "" if pd.isna(cap.get("variant")) else str(cap.get("variant"))  # e.g. b=28,whiten=ridge 0.1
method = method.chosen_variant(facts, variant)  # rebuilt as the search chose: a (method, whitening) series
meta = {"method": wc.method, "variant": variant, "family": wc.family, "d": facts.d, "n_facts": facts.n_facts,
        "seed": p.seed, "capacity_size": cap["min_width"], "capacity_params": cap["param_count"],
        "settings": settings_json({**vars(method.settings), **settings_dict(task, train, settings)})}
if bool(cap["found"]):
    rows = measure_usability(facts, method, int(cap["min_width"]), seed=p.seed, task=task, train=train,
                             settings=settings)
    table = pd.DataFrame([{**meta, "status": "ok", **r} for r in rows])
else:
    log.warning("%s never stores this fact set (capacity search failed): no usability rows", wc.method)
    table = pd.DataFrame([{**meta, "status": "capacity_not_found"}]).reindex(columns=schema_columns("usability_job"))
write_tsv(table, snakemake.output.table, schema="usability_job")  # noqa: F821
