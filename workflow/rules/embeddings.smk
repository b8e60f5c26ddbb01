# Stage 1: embedding tables and fact sets (K, V, f).


rule embeddings:
    output:
        tables="results/embeddings/{family}/d{d}_n{n}_s{seed}.pt",
    log:
        "logs/embeddings/{family}/d{d}_n{n}_s{seed}.log",
    cache: True
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        **light_resources(),
    params:
        # the wildcards, so that the between-workflow cache key (params, inputs, code) tells jobs apart
        job=lambda wc: dict(wc.items()),
        family=family_params,
        d=lambda wc: int(wc.d),
        n_keys=lambda wc: int(wc.n),
        n_values=lambda wc: n_values(wc.n, wc.family),
        tied=lambda wc: config["facts"]["tied"] and family_keys(wc.family) == "tied",
        seed=lambda wc: int(wc.seed),
    script:
        "../../scripts/make_embeddings.py"


rule fact_set:
    input:
        tables="results/embeddings/{family}/d{d}_n{n}_s{seed}.pt",
    output:
        facts="results/facts/{family}/d{d}_n{n}_s{seed}.pt",
    log:
        "logs/facts/{family}/d{d}_n{n}_s{seed}.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        **light_resources(),
    params:
        mapping=config["facts"]["mapping"],
        seed=lambda wc: int(wc.seed),
    script:
        "../../scripts/make_fact_set.py"
