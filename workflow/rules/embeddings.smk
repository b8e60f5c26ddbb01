# Stage 1: fact sets (K, V, f): the family's key and value tables and the map f, in one job (a
# separate job for the tables cost one Python + torch start-up per fact set for a sub-second draw).
# Priorities (here and in the stage files): fact sets first, then the long jobs that gate others
# (GD searches, rho + closed-form, the editing base), then usability and edits; the short leaf jobs
# (Nichani, plots) fill the gaps, so no long job starts last and leaves a core idle at the end.


rule fact_set:
    output:
        facts="results/facts/{family}/d{d}_n{n}_s{seed}.pt",
    log:
        "logs/facts/{family}/d{d}_n{n}_s{seed}.log",
    cache: True
    conda:
        "../../environment.yml"
    priority: 30
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
        mapping=config["facts"]["mapping"],
        seed=lambda wc: int(wc.seed),
    script:
        "../../scripts/make_fact_set.py"
