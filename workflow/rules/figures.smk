# Stage 5: figures (seaborn, PDF + PNG), each wrapped in report() with a caption.


rule plot_capacity:
    input:
        table="results/tables/capacity.tsv",
    output:
        pdf=report(
            "results/figures/capacity_{sweep}.pdf",
            caption="../report/capacity.rst",
            category="Capacity",
            labels={"sweep": "{sweep}", "format": "pdf"},
        ),
        png=report(
            "results/figures/capacity_{sweep}.png",
            caption="../report/capacity.rst",
            category="Capacity",
            labels={"sweep": "{sweep}", "format": "png"},
        ),
    log:
        "logs/figures/capacity_{sweep}.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        **light_resources(),
    params:
        sweep=lambda wc: wc.sweep,
    script:
        "../../scripts/plot_capacity.py"
