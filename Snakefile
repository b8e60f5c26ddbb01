# factmlp: build, measure and use fact-storing MLPs (Dugan et al. 2025; Nichani et al. 2024).
# Run: snakemake --cores 2   (config/config.yaml is the CPU smoke scale; see README.md)
from snakemake.utils import min_version

min_version("9.20")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    **wildcard_patterns(),


include: "workflow/rules/capacity.smk"
include: "workflow/rules/usability.smk"
include: "workflow/rules/editing.smk"
include: "workflow/rules/nichani.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        final_outputs(),


# One target per stage: `snakemake --cores 2 capacity` runs that stage and what it needs only
# (`snakemake claims`, the rule that writes results/claims.tsv, runs every stage the claims read).
rule capacity:
    input:
        stage_outputs("capacity"),


rule usability:
    input:
        stage_outputs("usability"),


rule editing:
    input:
        stage_outputs("editing"),


rule nichani:
    input:
        stage_outputs("nichani"),
