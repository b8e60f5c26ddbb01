# The claims: results/claims.tsv (with .tex and .md), the slopes and closed-form-vs-GD tables, from
# every configured stage's tables (factmlp.claims; claims revision 3, docs/claims.md).


rule claims:
    input:
        unpack(claims_inputs),
    output:
        claims="results/claims.tsv",
        tex="results/claims.tex",
        md="results/claims.md",
        slopes="results/tables/slopes.tsv",
        closed_form="results/tables/closed_form_vs_gd.tsv",
    log:
        "logs/claims.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("write_claims.py"),
        scale=config["scale"],
        families=FAMILIES,
        scaling_sweeps=[s["name"] for s in SWEEPS if s["figure"] == "scaling"],
        usable_at=USABILITY["usable_at"],
        designs=CLAIM_DESIGNS,
    script:
        "../../scripts/write_claims.py"
