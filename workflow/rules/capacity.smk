# Stages 1-3 and their tables and figures: each fact set (K, V, f), rho(V) of its values, and the
# smallest MLP of each method that stores it (gallop-then-bisect search); quantised storage; the
# capacity, rho and quantised tables; the capacity, cost-ratio, bits, quantised and C2/C3 figures. Drawing a set, rho and the closed-form builders take
# seconds, about one job's start-up (~3 s, mostly importing torch): one job per fact set
# (measure_fact_set) draws it, measures rho and searches every closed-form method (rows per
# method). GD-trained methods take minutes per search: one job each (measure_capacity).
# Priorities (here and in the stage files): fact sets first, then the long jobs that gate others
# (GD searches, the editing base), then usability and edits; the short leaf jobs (Nichani, plots)
# fill the gaps, so no long job starts last and leaves a core idle at the end.


rule measure_capacity:
    input:
        # ancient: the set's own settings are params (fact_set_params in common.smk)
        facts=ancient("results/facts/{family}/d{d}_n{n}_s{seed}.pt"),
        # gd_encdec*: the construction's row of this set (its m' and buckets). Not ancient: a
        # rewritten closed-form table reruns the search, since the construction's m' may have
        # changed (also when only another closed-form method's settings did: one shared table)
        reference=lambda wc: reference_files(wc.method, wc.family, wc.d, wc.n, wc.seed),
    output:
        summary="results/capacity/{method}/{family}/d{d}_n{n}_s{seed}.tsv",
        probes="results/capacity/{method}/{family}/d{d}_n{n}_s{seed}_probes.tsv",
        # the job's own run time and memory (factmlp.jobstats: cached rules cannot have benchmark:)
        benchmark="results/benchmarks/capacity/{method}/{family}/d{d}_n{n}_s{seed}.tsv",
    log:
        "logs/capacity/{method}/{family}/d{d}_n{n}_s{seed}.log",
    wildcard_constraints:
        method="|".join(TRAINED_METHODS),
    cache: True
    priority: 20
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **heavy_resources(),
    params:
        **search_params(),
        code=code_of("measure_capacity.py"),
        # the wildcards, so that the between-workflow cache key (params, inputs, code) tells jobs apart
        job=lambda wc: dict(wc.items()),
        methods=lambda wc: {wc.method: method_settings(wc.method)},
        fact_set=lambda wc: {k: v(wc) if callable(v) else v for k, v in fact_set_params().items()},
    script:
        "../../scripts/measure_capacity.py"


rule measure_fact_set:
    # The fact set, rho(V) of its values with its separators u*, and the capacity of every
    # closed-form method asked of it (none for the rho-only sets): the constructions reuse the
    # separators this job computes; one job instead of three saves two start-ups per set.
    output:
        facts="results/facts/{family}/d{d}_n{n}_s{seed}.pt",
        rho="results/rho/{family}/d{d}_n{n}_s{seed}.tsv",
        separators="results/rho/{family}/d{d}_n{n}_s{seed}.pt",
        summary=f"results/capacity/{CLOSED_FORM_DIR}/{{family}}/d{{d}}_n{{n}}_s{{seed}}.tsv",
        probes=f"results/capacity/{CLOSED_FORM_DIR}/{{family}}/d{{d}}_n{{n}}_s{{seed}}_probes.tsv",
        benchmark=f"results/benchmarks/capacity/{CLOSED_FORM_DIR}/{{family}}/d{{d}}_n{{n}}_s{{seed}}.tsv",
    log:
        f"logs/capacity/{CLOSED_FORM_DIR}/{{family}}/d{{d}}_n{{n}}_s{{seed}}.log",
    cache: True
    priority: 30
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **heavy_resources(),
    params:
        **search_params(),
        **fact_set_params(),
        code=code_of("measure_fact_set.py"),
        job=lambda wc: dict(wc.items()),
        methods=lambda wc: {
            m: method_settings(m) for m in closed_form_methods(wc.family, wc.d, wc.n, wc.seed)
        },
        batch_size=config["decodability"]["batch_size"],
        tol=config["decodability"]["tol"],
        min_distance=config["decodability"]["min_distance"],
        max_seconds=config["decodability"]["max_seconds"],
    script:
        "../../scripts/measure_fact_set.py"


rule measure_quantized:
    # Quantised storage of one fact set (capacity.quantization): each listed method's float-minimal
    # MLP stored at each format, and the smallest size storing every fact after quantisation,
    # searched up from the float minimum (factmlp.quantize). One job per fact set: GD's rebuilds
    # dominate; the closed forms add seconds.
    input:
        facts=ancient("results/facts/{family}/d{d}_n{n}_s{seed}.pt"),
        capacity=lambda wc: sorted(set(quantized_inputs(wc).values())),
    output:
        table="results/quantized/{family}/d{d}_n{n}_s{seed}.tsv",
        benchmark="results/benchmarks/quantized/{family}/d{d}_n{n}_s{seed}.tsv",
    log:
        "logs/quantized/{family}/d{d}_n{n}_s{seed}.log",
    cache: True
    priority: 15
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **heavy_resources(),
    params:
        **search_params(),
        code=code_of("measure_quantized.py"),
        job=lambda wc: dict(wc.items()),
        members=quantized_inputs,
        methods=lambda wc: {m: method_settings(m) for m in QUANT["methods"]},
        formats=lambda wc: QUANT["formats"],
        max_factor=lambda wc: QUANT["max_factor"],
        scale_dtype=lambda wc: QUANT["scale_dtype"],
        mapping=config["facts"]["mapping"],
    script:
        "../../scripts/measure_quantized.py"


# Gathering: the per-job rows as tidy tables under results/tables/.


rule aggregate_capacity:
    input:
        summaries=capacity_files(),
        probes=capacity_files("_probes"),
    output:
        table="results/tables/capacity.tsv",
        probes="results/tables/capacity_probes.tsv",
    log:
        "logs/tables/capacity.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("aggregate_capacity.py"),
        members=capacity_members(),
        mapping=config["facts"]["mapping"],
    script:
        "../../scripts/aggregate_capacity.py"


rule aggregate_rho:
    input:
        summaries=rho_files(),
    output:
        table="results/tables/rho.tsv",
    log:
        "logs/tables/rho.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("aggregate_rho.py"),
    script:
        "../../scripts/aggregate_rho.py"


rule aggregate_quantized:
    input:
        tables=quantized_files(),
    output:
        table="results/tables/quantized.tsv",
    log:
        "logs/tables/quantized.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("aggregate_quantized.py"),
        sweep=QUANT["sweep"] if QUANT else None,
    script:
        "../../scripts/aggregate_quantized.py"


# Figures (seaborn; PDF, PNG and SVG), each wrapped in report() with a caption.


rule plot_capacity:
    input:
        capacity="results/tables/capacity.tsv",
        rho="results/tables/rho.tsv",
    output:
        pdf=report(
            "results/figures/capacity_{sweep}.pdf",
            caption="../report/capacity.rst",
            category="Capacity",
            labels={"figure": "capacity sweep {sweep}", "format": "pdf"},
        ),
        png=report(
            "results/figures/capacity_{sweep}.png",
            caption="../report/capacity.rst",
            category="Capacity",
            labels={"figure": "capacity sweep {sweep}", "format": "png"},
        ),
        svg="results/figures/capacity_{sweep}.svg",
    log:
        "logs/figures/capacity_{sweep}.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("plot_capacity.py"),
        sweep=lambda wc: wc.sweep,
        figure=lambda wc: SWEEP_BY_NAME[wc.sweep]["figure"],
        families=FAMILIES,
    script:
        "../../scripts/plot_capacity.py"


rule plot_cost_ratios:
    input:
        capacity="results/tables/capacity.tsv",
    output:
        pdf=report(
            "results/figures/cost_ratios.pdf",
            caption="../report/cost_ratios.rst",
            category="Capacity",
            labels={"figure": "cost ratios", "format": "pdf"},
        ),
        png=report(
            "results/figures/cost_ratios.png",
            caption="../report/cost_ratios.rst",
            category="Capacity",
            labels={"figure": "cost ratios", "format": "png"},
        ),
        svg="results/figures/cost_ratios.svg",
        bits_pdf=report(
            "results/figures/bits_per_param.pdf",
            caption="../report/bits_per_param.rst",
            category="Capacity",
            labels={"figure": "bits per parameter", "format": "pdf"},
        ),
        bits_png=report(
            "results/figures/bits_per_param.png",
            caption="../report/bits_per_param.rst",
            category="Capacity",
            labels={"figure": "bits per parameter", "format": "png"},
        ),
        bits_svg="results/figures/bits_per_param.svg",
    log:
        "logs/figures/cost_ratios.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("plot_cost_ratios.py"),
        sweep="scaling",
    script:
        "../../scripts/plot_cost_ratios.py"


rule plot_quantized:
    input:
        table="results/tables/quantized.tsv",
    output:
        pdf=report(
            "results/figures/quantized.pdf",
            caption="../report/quantized.rst",
            category="Capacity",
            labels={"figure": "quantised storage", "format": "pdf"},
        ),
        png=report(
            "results/figures/quantized.png",
            caption="../report/quantized.rst",
            category="Capacity",
            labels={"figure": "quantised storage", "format": "png"},
        ),
        svg="results/figures/quantized.svg",
    log:
        "logs/figures/quantized.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("plot_quantized.py"),
    script:
        "../../scripts/plot_quantized.py"


# The figures of claims C3 and C2, drawn with the claims' own functions (factmlp.plots.claims) at
# each claim's declared design (claims.designs); a claim whose sweep is not configured gets a figure
# saying so (its row of results/claims.tsv is n/a).
rule plot_claim_figures:
    input:
        capacity="results/tables/capacity.tsv",
        rho="results/tables/rho.tsv",
    output:
        rho_fit_pdf=report(
            "results/figures/rho_fit.pdf",
            caption="../report/rho_fit.rst",
            category="Claims",
            labels={"figure": "C3 rho law fit", "format": "pdf"},
        ),
        rho_fit_png=report(
            "results/figures/rho_fit.png",
            caption="../report/rho_fit.rst",
            category="Claims",
            labels={"figure": "C3 rho law fit", "format": "png"},
        ),
        rho_fit_svg="results/figures/rho_fit.svg",
        c2_ratios_pdf=report(
            "results/figures/c2_ratios.pdf",
            caption="../report/c2_ratios.rst",
            category="Claims",
            labels={"figure": "C2 NTK / construction", "format": "pdf"},
        ),
        c2_ratios_png=report(
            "results/figures/c2_ratios.png",
            caption="../report/c2_ratios.rst",
            category="Claims",
            labels={"figure": "C2 NTK / construction", "format": "png"},
        ),
        c2_ratios_svg="results/figures/c2_ratios.svg",
    log:
        "logs/figures/claim_figures.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("plot_claim_figures.py"),
        c2=CLAIM_DESIGNS["C2"]["params"],
        c3=CLAIM_DESIGNS["C3"]["params"],
        families=FAMILIES,
    script:
        "../../scripts/plot_claim_figures.py"
