# Stages 2-3: rho(V) of each fact set, and the smallest MLP of each method that stores it
# (gallop-then-bisect search). GD-trained methods take minutes per search: one job each.
# Closed-form builders and rho take seconds, less than a job's start-up: one job per fact set
# (measure_fact_set) measures rho and searches every closed-form method (rows per method).


rule measure_capacity:
    input:
        facts="results/facts/{family}/d{d}_n{n}_s{seed}.pt",
    output:
        summary="results/capacity/{method}/{family}/d{d}_n{n}_s{seed}.tsv",
        probes="results/capacity/{method}/{family}/d{d}_n{n}_s{seed}_probes.tsv",
    log:
        "logs/capacity/{method}/{family}/d{d}_n{n}_s{seed}.log",
    wildcard_constraints:
        method="|".join(TRAINED_METHODS),
    cache: True
    conda:
        "../../environment.yml"
    priority: 20
    threads: config["resources"]["threads"]
    resources:
        **heavy_resources(),
    params:
        # the wildcards, so that the between-workflow cache key (params, inputs, code) tells jobs apart
        job=lambda wc: dict(wc.items()),
        methods=lambda wc: {wc.method: method_settings(wc.method)},
        **search_params(),
    script:
        "../../scripts/measure_capacity.py"


rule measure_fact_set:
    # rho(V) of the fact set's values with its separators u*, and the capacity of every closed-form
    # method asked of it (none for the rho-only sets): the constructions reuse the separators this
    # job computes, and one job instead of two saves a start-up (~3 s, mostly importing torch) per set.
    input:
        facts="results/facts/{family}/d{d}_n{n}_s{seed}.pt",
    output:
        rho="results/rho/{family}/d{d}_n{n}_s{seed}.tsv",
        separators="results/rho/{family}/d{d}_n{n}_s{seed}.pt",
        summary=f"results/capacity/{CLOSED_FORM_DIR}/{{family}}/d{{d}}_n{{n}}_s{{seed}}.tsv",
        probes=f"results/capacity/{CLOSED_FORM_DIR}/{{family}}/d{{d}}_n{{n}}_s{{seed}}_probes.tsv",
    log:
        f"logs/capacity/{CLOSED_FORM_DIR}/{{family}}/d{{d}}_n{{n}}_s{{seed}}.log",
    cache: True
    conda:
        "../../environment.yml"
    priority: 20
    threads: config["resources"]["threads"]
    resources:
        **heavy_resources(),
    params:
        job=lambda wc: dict(wc.items()),
        methods=lambda wc: {
            m: method_settings(m) for m in closed_form_methods(wc.family, wc.d, wc.n, wc.seed)
        },
        batch_size=config["decodability"]["batch_size"],
        tol=config["decodability"]["tol"],
        **search_params(),
    script:
        "../../scripts/measure_fact_set.py"
