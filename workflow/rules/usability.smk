# Stage 5: Transformer usability of fact MLPs (Dugan et al. Sec. 5, Fig 3): train attention with one
# MLP frozen in the slot, swap in a new MLP for a new map, measure recall; Lipschitz estimates.


rule measure_usability:
    input:
        # ancient: the set's own settings are params (fact_set_params in common.smk)
        facts=ancient("results/facts/{family}/d{d}_n{n}_s{seed}.pt"),
        capacity=lambda wc: capacity_file(wc.method, wc.family, wc.d, wc.n, wc.seed),
    output:
        table="results/usability/{method}/{family}/d{d}_n{n}_s{seed}.tsv",
    log:
        "logs/usability/{method}/{family}/d{d}_n{n}_s{seed}.log",
    benchmark:
        "results/benchmarks/usability/{method}/{family}/d{d}_n{n}_s{seed}.tsv"
    priority: 10
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **heavy_resources(),
    params:
        code=code_of("measure_usability.py"),
        settings=lambda wc: method_settings(wc.method),
        seed=lambda wc: int(wc.seed),
        usability=usability_settings(),
        fact_set=lambda wc: {k: v(wc) if callable(v) else v for k, v in fact_set_params().items()},
    script:
        "../../scripts/measure_usability.py"


rule aggregate_usability:
    input:
        tables=sorted(set(usability_files())),
    output:
        table="results/tables/usability.tsv",
    log:
        "logs/tables/usability.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("aggregate_usability.py"),
        members=[
            (job[0], path) for job, path in zip(sweep_jobs(USABILITY_SWEEPS), usability_files())
        ],
        figures={s["name"]: s["figure"] for s in USABILITY_SWEEPS},
    script:
        "../../scripts/aggregate_usability.py"


rule plot_usability:
    input:
        usability="results/tables/usability.tsv",
    output:
        pdf=report(
            "results/figures/usability.pdf",
            caption="../report/usability.rst",
            category="Usability",
            labels={"figure": "usability", "format": "pdf"},
        ),
        png=report(
            "results/figures/usability.png",
            caption="../report/usability.rst",
            category="Usability",
            labels={"figure": "usability", "format": "png"},
        ),
        svg="results/figures/usability.svg",
    log:
        "logs/figures/usability.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("plot_usability.py"),
        usable_at=USABILITY["usable_at"],
    script:
        "../../scripts/plot_usability.py"
