# `snakemake replay --configfile SNAP/config.yaml --config replay=SNAP`: a snapshot's stored tables
# stand in for the aggregation rules, so figures, claims and the report are redrawn computing no MLP.


if REPLAY:

    # Replay (config key `replay`): the snapshot's stored tables stand in for the aggregations;
    # the figures, claims and report are then made from them as in a full run.
    ruleorder: replay_table > aggregate_capacity
    ruleorder: replay_table > aggregate_rho
    ruleorder: replay_table > aggregate_quantized
    ruleorder: replay_table > aggregate_usability
    ruleorder: replay_table > aggregate_editing
    ruleorder: replay_table > aggregate_sequential
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
