"""results/claims.tsv: each paper claim, its paper value, the measured value and pass/fail.

Ids, statements and pass rules are fixed in shared/claims.md (revision 2). Every measured value
is computed here from the pipeline's tidy tables, never typed in. Claims whose measurement was not
run at this scale (its sweep or method absent from the config) are ``n/a`` with the reason; a
claim whose sweep ran but cannot be decided (too few points, seeds, geometries) is ``false`` with
the reason.

One module per stage of the workflow, each returning rows in ``CLAIM_COLUMNS``:

- :mod:`factmlp.claims.common`     columns, sweep names, method families, row builders, formatting
- :mod:`factmlp.claims.capacity`   C1-C5 and B1 (capacity and rho tables; lower bounds)
- :mod:`factmlp.claims.usability`  C6, C7 (usability table)
- :mod:`factmlp.claims.editing`    C8 (editing table)
- :mod:`factmlp.claims.nichani`    C9 (Nichani et al. tables)

Import from the stage module (``from factmlp.claims.capacity import capacity_claims``). The package
imports none of them: ``factmlp.codehash`` hashes what a job's script can import, so a figure job
that needs the capacity helpers does not rerun when the Nichani claim changes.
"""

__all__ = ["common", "capacity", "usability", "editing", "nichani"]
