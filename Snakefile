# factmlp: the workflow's body is workflow/Snakefile (the layout the Snakemake Workflow Catalog
# expects); `snakemake` from the repository root runs it through this include. Snakemake keeps the
# default target of the main Snakefile only (an included file's `default_target` is dropped), so
# it is named here.
include: "workflow/Snakefile"


workflow.default_target = "all"
