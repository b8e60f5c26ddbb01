"""The results tables as one sortable, filterable HTML page for ``snakemake --report``, offline.

Built with itables (DataTables for pandas) in its offline mode: the DataTables bundle that ships
inside the itables wheel is embedded in the page (base64), so the page loads no script or style
from the network and works in a report opened without internet (a test scans the report for
external loads). One page holds every table, so the ~1 MB bundle is embedded once. Columns that
only a program reads (the methods' settings as JSON, the per-job source file) are left out; the
TSV files keep everything. No table is downsampled (itables' default cuts pages above 64 kB).
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

__all__ = ["tables_page", "DROPPED_COLUMNS"]

DROPPED_COLUMNS = ("settings", "source")


def tables_page(tables: list[tuple[str, pd.DataFrame, str]], *, title: str = "factmlp results tables") -> str:
    """A standalone HTML page with one interactive table per ``(name, table, caption)``."""
    import itables
    from itables.javascript import generate_init_offline_itables_html, to_html_datatable

    if not tables:
        raise ValueError("no tables to show")
    bundle = Path(itables.__file__).parent / "html" / "dt_bundle.js"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>",
             f"<h1>{html.escape(title)}</h1>", generate_init_offline_itables_html(bundle)]
    for name, table, caption in tables:
        shown = table.drop(columns=[c for c in DROPPED_COLUMNS if c in table])
        parts.append(f"<h2 id='{html.escape(name)}'>{html.escape(name)}</h2><p>{html.escape(caption)}</p>")
        parts.append(to_html_datatable(shown, connected=False, maxBytes=0, showIndex=False,
                                       classes="display compact", caption=name))
    parts.append("</body></html>")
    return "\n".join(parts)
