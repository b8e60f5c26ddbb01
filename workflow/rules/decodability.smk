# Stage 2: decodability rho(V) and the optimal separators u* of each fact set's values.


rule decodability:
    input:
        facts="results/facts/{family}/d{d}_n{n}_s{seed}.pt",
    output:
        summary="results/rho/{family}/d{d}_n{n}_s{seed}.tsv",
        separators="results/rho/{family}/d{d}_n{n}_s{seed}.pt",
    log:
        "logs/rho/{family}/d{d}_n{n}_s{seed}.log",
    cache: True
    conda:
        "../../environment.yml"
    threads: config["resources"]["threads"]
    resources:
        **light_resources(),
    params:
        # the wildcards, so that the between-workflow cache key (params, inputs, code) tells jobs apart
        job=lambda wc: dict(wc.items()),
        batch_size=config["decodability"]["batch_size"],
        tol=config["decodability"]["tol"],
    script:
        "../../scripts/measure_decodability.py"
