# Stage 7: Nichani, Lee, Bietti 2024, "Understanding factual recall in Transformers via associative
# memories": capacity of linear and MLP associative memories (Fig 1), facts stored by a one-layer
# Transformer and the attention/MLP trade-off (Fig 4), sequential learning (Fig 5); claim C9.


rule nichani_memory_capacity:
    output:
        table="results/nichani/{am}/{memory}/d{d}_m{m}_s{seed}.tsv",
        probes="results/nichani/{am}/{memory}/d{d}_m{m}_s{seed}_probes.tsv",
        # the job's own run time and memory (factmlp.jobstats: cached rules cannot have benchmark:)
        benchmark="results/benchmarks/nichani/{am}/{memory}/d{d}_m{m}_s{seed}.tsv",
    log:
        "logs/nichani/{am}/{memory}/d{d}_m{m}_s{seed}.log",
    cache: True
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **heavy_resources(),
    params:
        code=code_of("nichani_memory_capacity.py"),
        # the wildcards, so that the between-workflow cache key (params, inputs, code) tells jobs apart
        job=lambda wc: dict(wc.items()),
        settings=nichani_memory_settings,
    script:
        "../../scripts/nichani_memory_capacity.py"


rule nichani_recall_capacity:
    output:
        table="results/nichani/recall/d{d}_h{heads}_dh{dh}_m{m}_s{seed}.tsv",
        probes="results/nichani/recall/d{d}_h{heads}_dh{dh}_m{m}_s{seed}_probes.tsv",
        benchmark="results/benchmarks/nichani/recall/d{d}_h{heads}_dh{dh}_m{m}_s{seed}.tsv",
    log:
        "logs/nichani/recall/d{d}_h{heads}_dh{dh}_m{m}_s{seed}.log",
    cache: True
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **heavy_resources(),
    params:
        code=code_of("nichani_recall_capacity.py"),
        # the wildcards, so that the between-workflow cache key (params, inputs, code) tells jobs apart
        job=lambda wc: dict(wc.items()),
        recall=nichani_settings("recall"),
    script:
        "../../scripts/nichani_recall_capacity.py"


rule nichani_tradeoff:
    output:
        table="results/nichani/tradeoff/h{heads}_m{m}_s{seed}.tsv",
        benchmark="results/benchmarks/nichani/tradeoff/h{heads}_m{m}_s{seed}.tsv",
    log:
        "logs/nichani/tradeoff/h{heads}_m{m}_s{seed}.log",
    cache: True
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **heavy_resources(),
    params:
        code=code_of("nichani_tradeoff.py"),
        # the wildcards, so that the between-workflow cache key (params, inputs, code) tells jobs apart
        job=lambda wc: dict(wc.items()),
        tradeoff=nichani_settings("tradeoff"),
    script:
        "../../scripts/nichani_tradeoff.py"


rule nichani_sequential:
    output:
        curve="results/nichani/sequential/{model}_s{seed}.tsv",
        stages="results/nichani/sequential/{model}_s{seed}_stages.tsv",
        benchmark="results/benchmarks/nichani/sequential/{model}_s{seed}.tsv",
    log:
        "logs/nichani/sequential/{model}_s{seed}.log",
    cache: True
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **heavy_resources(),
    params:
        code=code_of("nichani_sequential.py"),
        # the wildcards, so that the between-workflow cache key (params, inputs, code) tells jobs apart
        job=lambda wc: dict(wc.items()),
        sequential=nichani_settings("sequential"),
    script:
        "../../scripts/nichani_sequential.py"


rule aggregate_nichani:
    input:
        **{part: nichani_files(part) for part in nichani_parts()},
    output:
        **{part: f"results/tables/nichani_{part}.tsv" for part in nichani_parts()},
    log:
        "logs/tables/nichani.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("aggregate_nichani.py"),
    script:
        "../../scripts/aggregate_nichani.py"


rule plot_nichani_memories:
    input:
        unpack(lambda wc: nichani_figure_inputs("memories")),
    output:
        pdf=report(
            "results/figures/nichani_memories.pdf",
            caption="../report/nichani_memories.rst",
            category="Nichani et al.",
            labels={"figure": "associative memories", "format": "pdf"},
        ),
        png=report(
            "results/figures/nichani_memories.png",
            caption="../report/nichani_memories.rst",
            category="Nichani et al.",
            labels={"figure": "associative memories", "format": "png"},
        ),
        svg="results/figures/nichani_memories.svg",
    log:
        "logs/figures/nichani_memories.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("plot_nichani.py"),
    script:
        "../../scripts/plot_nichani.py"


rule plot_nichani_recall:
    input:
        unpack(lambda wc: nichani_figure_inputs("recall")),
    output:
        pdf=report(
            "results/figures/nichani_recall.pdf",
            caption="../report/nichani_recall.rst",
            category="Nichani et al.",
            labels={"figure": "factual recall", "format": "pdf"},
        ),
        png=report(
            "results/figures/nichani_recall.png",
            caption="../report/nichani_recall.rst",
            category="Nichani et al.",
            labels={"figure": "factual recall", "format": "png"},
        ),
        svg="results/figures/nichani_recall.svg",
    log:
        "logs/figures/nichani_recall.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("plot_nichani.py"),
    script:
        "../../scripts/plot_nichani.py"


rule plot_nichani_sequential:
    input:
        unpack(lambda wc: nichani_figure_inputs("sequential")),
    output:
        pdf=report(
            "results/figures/nichani_sequential.pdf",
            caption="../report/nichani_sequential.rst",
            category="Nichani et al.",
            labels={"figure": "sequential learning", "format": "pdf"},
        ),
        png=report(
            "results/figures/nichani_sequential.png",
            caption="../report/nichani_sequential.rst",
            category="Nichani et al.",
            labels={"figure": "sequential learning", "format": "png"},
        ),
        svg="results/figures/nichani_sequential.svg",
    log:
        "logs/figures/nichani_sequential.log",
    conda:
        "../envs/factmlp.yaml"
    threads: 1
    resources:
        **light_resources(),
    params:
        code=code_of("plot_nichani.py"),
        answers_per_relation=NICHANI["sequential"]["task"]["answers_per_relation"],
        stage_tol=NICHANI["sequential"]["stage_tol"],
    script:
        "../../scripts/plot_nichani.py"
