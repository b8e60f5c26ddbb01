# Stage 4: gather per-job rows into tidy tables under results/tables/.


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
        "../../environment.yml"
    threads: 1
    resources:
        **light_resources(),
    params:
        members=capacity_members(),
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
        "../../environment.yml"
    threads: 1
    resources:
        **light_resources(),
    script:
        "../../scripts/aggregate_rho.py"


rule aggregate_benchmarks:
    input:
        benchmark_files(),
    output:
        table="results/tables/benchmarks.tsv",
    log:
        "logs/tables/benchmarks.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        **light_resources(),
    script:
        "../../scripts/aggregate_benchmarks.py"
