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


rule aggregate_benchmarks:
    input:
        benchmark_files(),
    output:
        table="results/tables/benchmarks.tsv",
    log:
        "logs/tables/benchmarks.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("aggregate_benchmarks.py"),
    script:
        "../../scripts/aggregate_benchmarks.py"
