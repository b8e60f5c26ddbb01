"""factmlp used as a Snakemake module from another workflow (the catalog's usage,
.snakemake-workflow-catalog.yml): a host Snakefile in a temporary folder imports every rule and
runs the tiny config to completion, taking the heavy jobs from the tiny run's cache (which works
only if the module computes the same cache keys: params, inputs and code)."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import ROOT, TINY_CONFIG, job_stats, output_of, run_snakemake

HOST = """configfile: "{config}"


module factmlp:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from factmlp
"""


@pytest.mark.slow
def test_module_runs_the_tiny_config_to_completion(tiny_run, tmp_path):
    work, _, cache = tiny_run
    host = tmp_path / "host"
    host.mkdir()
    (host / "Snakefile").write_text(HOST.format(config=TINY_CONFIG, snakefile=ROOT / "workflow" / "Snakefile"))
    proc = run_snakemake(host, "--snakefile", host / "Snakefile", "--cores", "2", "--cache", timeout=900,
                         env={"SNAKEMAKE_OUTPUT_CACHE": str(cache)})
    out = output_of(proc)
    assert proc.returncode == 0, out
    stats = job_stats(out)
    assert stats.get("claims") == 1 and stats.get("measure_fact_set", 0) >= 1, stats
    mine = pd.read_csv(host / "results" / "claims.tsv", sep="\t", dtype=str, keep_default_na=False)
    theirs = pd.read_csv(work / "results" / "claims.tsv", sep="\t", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(mine, theirs)  # the same workflow: the same verdicts and measured values
    again = run_snakemake(host, "--snakefile", host / "Snakefile", "--cores", "2", "-n", timeout=300)
    assert "Nothing to be done" in output_of(again), output_of(again)
