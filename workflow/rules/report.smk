# What the report shows beside the figures: the interactive tables page and the run time of every
# heavy job (Snakemake benchmark: files and the cached rules' own records, factmlp.jobstats).


rule aggregate_benchmarks:
    input:
        list(benchmark_files()),
    output:
        table="results/tables/benchmarks.tsv",
        runtimes="results/tables/runtimes.tsv",
    log:
        "logs/tables/benchmarks.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("aggregate_benchmarks.py"),
        rules=benchmark_files(),
    script:
        "../../scripts/aggregate_benchmarks.py"


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
