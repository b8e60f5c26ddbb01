# Stage 3: the smallest MLP of each method that stores each fact set (binary search on width).


rule measure_capacity:
    input:
        facts="results/facts/{family}/d{d}_n{n}_s{seed}.pt",
    output:
        summary="results/capacity/{method}/{family}/d{d}_n{n}_s{seed}.tsv",
        probes="results/capacity/{method}/{family}/d{d}_n{n}_s{seed}_probes.tsv",
    log:
        "logs/capacity/{method}/{family}/d{d}_n{n}_s{seed}.log",
    cache: True
    conda:
        "../../environment.yml"
    threads: config["resources"]["threads"]
    resources:
        **heavy_resources(),
    params:
        # the wildcards, so that the between-workflow cache key (params, inputs, code) tells jobs apart
        job=lambda wc: dict(wc.items()),
        settings=lambda wc: method_settings(wc.method),
        seed=lambda wc: int(wc.seed),
        width_min=config["capacity"]["width_min"],
        width_max=config["capacity"]["width_max"],
        rel_tol=config["capacity"]["rel_tol"],
    script:
        "../../scripts/measure_capacity.py"
