"""results/claims.tsv: each paper claim, its paper value, the measured value and pass/fail.

Ids, statements, designs and pass rules are those of claims revision 3 (docs/claims.md). Every
measured value is computed here from the pipeline's tidy tables, never typed in; every ratio and
R^2 per seed, summarised by the median over seeds with the range beside. Each config declares the
design of every claim (section ``claims``, :mod:`factmlp.claims.design`): a claim whose design
misses its level's minimums, or whose measurement was not run at this scale, is ``n/a`` naming
what is missing; the ``design`` column says what the verdict used.

One module per stage of the workflow, each returning rows in ``CLAIM_COLUMNS``:

- :mod:`factmlp.claims.common`     columns, sweep names, method families, row builders, formatting
- :mod:`factmlp.claims.design`     pre-registered designs, their minimums, the ``design`` column
- :mod:`factmlp.claims.capacity`   C1-C5, B1 and B2 (capacity and rho tables; lower bounds)
- :mod:`factmlp.claims.usability`  C6, C7 (usability table)
- :mod:`factmlp.claims.editing`    C8 (editing table)
- :mod:`factmlp.claims.nichani`    C9 (Nichani et al. tables)
- :mod:`factmlp.claims.export`     results/claims.tex (booktabs) and results/claims.md

Import from the stage module (``from factmlp.claims.capacity import capacity_claims``). The package
imports none of them: ``factmlp.codehash`` hashes what a job's script can import, so a figure job
that needs the capacity helpers does not rerun when the Nichani claim changes.
"""

__all__ = ["common", "design", "capacity", "usability", "editing", "nichani", "export"]
