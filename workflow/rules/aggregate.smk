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


if REPLAY:

    # Replay (config key `replay`): the snapshot's stored tables stand in for the aggregations;
    # the figures, claims and report are then made from them as in a full run.
    ruleorder: replay_table > aggregate_capacity
    ruleorder: replay_table > aggregate_rho
    ruleorder: replay_table > aggregate_quantized
    ruleorder: replay_table > aggregate_usability
    ruleorder: replay_table > aggregate_editing
    ruleorder: replay_table > aggregate_nichani

    rule replay_table:
        input:
            f"{REPLAY}/tables/{{table}}.tsv",
        output:
            "results/tables/{table}.tsv",
        log:
            "logs/replay/{table}.log",
        wildcard_constraints:
            table="|".join(aggregated_tables()),
        threads: 1
        resources:
            **light_resources(),
        params:
            code=code_of("replay_table.py"),
            mapping=config["facts"]["mapping"],
        script:
            "../../scripts/replay_table.py"
