# Stage 5: figures (seaborn, PDF + PNG), each wrapped in report() with a caption.


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


rule claims:
    input:
        unpack(claims_inputs),
    output:
        claims="results/claims.tsv",
        tex="results/claims.tex",
        md="results/claims.md",
        slopes="results/tables/slopes.tsv",
        closed_form="results/tables/closed_form_vs_gd.tsv",
    log:
        "logs/claims.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("write_claims.py"),
        scale=config["scale"],
        families=FAMILIES,
        scaling_sweeps=[s["name"] for s in SWEEPS if s["figure"] == "scaling"],
        usable_at=USABILITY["usable_at"],
        designs=CLAIM_DESIGNS,
    script:
        "../../scripts/write_claims.py"


rule report_tables:
    input:
        unpack(report_table_inputs),
    output:
        report(
            "results/report/tables.html",
            caption="../report/tables.rst",
            category="Tables",
            labels={"table": "claims and results"},
        ),
    log:
        "logs/report/tables.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("report_tables.py"),
    script:
        "../../scripts/report_tables.py"


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
