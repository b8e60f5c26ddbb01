# Stage 6: fact editing (Dugan et al. Sec. 5.2, Fig 4): a base LM with a fact MLP in its MLP slot,
# then MLP swapping against ROME, MEMIT and AlphaEdit at several edit fractions; one base model
# per (base, seed), the seed drawing every random choice of its corpus, model and edits.


rule edit_base:
    output:
        model="results/editing/{base}/s{seed}/base.pt",
        table="results/editing/{base}/s{seed}/base.tsv",
        # the job's own run time and memory (factmlp.jobstats: cached rules cannot have benchmark:)
        benchmark="results/benchmarks/editing/{base}/s{seed}/base.tsv",
    log:
        "logs/editing/{base}/s{seed}/base.log",
    cache: True
    priority: 20
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **heavy_resources(),
    params:
        code=code_of("edit_base.py"),
        # the wildcards, so that the between-workflow cache key (params, inputs, code) tells jobs apart
        job=lambda wc: dict(wc.items()),
        editing=lambda wc: editing_settings(EDIT_BASE_KEYS, wc.base),
        method=lambda wc: EDIT_BASES[wc.base]["method"],
        size=lambda wc: EDIT_BASES[wc.base]["size"],
        settings=lambda wc: edit_base_settings(wc.base),
        seed=lambda wc: int(wc.seed),
    script:
        "../../scripts/edit_base.py"


rule edit_facts:
    input:
        model="results/editing/{base}/s{seed}/base.pt",
    output:
        table="results/editing/{base}/s{seed}/edits_f{fraction}.tsv",
    log:
        "logs/editing/{base}/s{seed}/edits_f{fraction}.log",
    benchmark:
        "results/benchmarks/editing/{base}/s{seed}/edits_f{fraction}.tsv"
    priority: 10
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **heavy_resources(),
    params:
        code=code_of("edit_facts.py"),
        editing=lambda wc: editing_settings(EDIT_FACTS_KEYS, wc.base),
        method=lambda wc: EDIT_BASES[wc.base]["method"],
        size=lambda wc: EDIT_BASES[wc.base]["size"],
        settings=lambda wc: edit_base_settings(wc.base),
        seed=lambda wc: int(wc.seed),
        fraction=lambda wc: float(wc.fraction),
    script:
        "../../scripts/edit_facts.py"


rule aggregate_editing:
    input:
        tables=editing_files(),
        bases=edit_base_tables(),
    output:
        table="results/tables/editing.tsv",
        best="results/tables/editing_best.tsv",
    log:
        "logs/tables/editing.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("aggregate_editing.py"),
    script:
        "../../scripts/aggregate_editing.py"


rule plot_editing:
    input:
        best="results/tables/editing_best.tsv",
    output:
        pdf=report(
            "results/figures/editing.pdf",
            caption="../report/editing.rst",
            category="Editing",
            labels={"figure": "editing", "format": "pdf"},
        ),
        png=report(
            "results/figures/editing.png",
            caption="../report/editing.rst",
            category="Editing",
            labels={"figure": "editing", "format": "png"},
        ),
        svg="results/figures/editing.svg",
    log:
        "logs/figures/editing.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("plot_editing.py"),
    script:
        "../../scripts/plot_editing.py"


# Sequential editing (issue 32, claim E1): rounds of edits on one base model, the swap rebuilding
# its fact MLP each round, the baselines accumulating their updates (factmlp.editing.sequential).


rule edit_sequential:
    input:
        model="results/editing/{base}/s{seed}/base.pt",
    output:
        table="results/editing/{base}/s{seed}/sequential.tsv",
    log:
        "logs/editing/{base}/s{seed}/sequential.log",
    benchmark:
        "results/benchmarks/editing/{base}/s{seed}/sequential.tsv"
    priority: 10
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **heavy_resources(),
    params:
        code=code_of("edit_sequential.py"),
        sequential=lambda wc: sequential_settings(wc.base),
        method=lambda wc: EDIT_BASES[wc.base]["method"],
        size=lambda wc: EDIT_BASES[wc.base]["size"],
        settings=lambda wc: edit_base_settings(wc.base),
        seed=lambda wc: int(wc.seed),
    script:
        "../../scripts/edit_sequential.py"


rule aggregate_sequential:
    input:
        tables=sequential_files(),
    output:
        table="results/tables/editing_sequential.tsv",
        best="results/tables/editing_sequential_best.tsv",
    log:
        "logs/tables/editing_sequential.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("aggregate_sequential.py"),
    script:
        "../../scripts/aggregate_sequential.py"


rule plot_sequential:
    input:
        best="results/tables/editing_sequential_best.tsv",
    output:
        pdf=report(
            "results/figures/editing_sequential.pdf",
            caption="../report/editing_sequential.rst",
            category="Editing",
            labels={"figure": "editing_sequential", "format": "pdf"},
        ),
        png=report(
            "results/figures/editing_sequential.png",
            caption="../report/editing_sequential.rst",
            category="Editing",
            labels={"figure": "editing_sequential", "format": "png"},
        ),
        svg="results/figures/editing_sequential.svg",
    log:
        "logs/figures/editing_sequential.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("plot_sequential.py"),
    script:
        "../../scripts/plot_sequential.py"
