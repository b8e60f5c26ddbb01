"""`snakemake --report`: every figure the workflow wraps in report() is in the report, with its own
caption, rendered without reStructuredText errors.

The report is built from the session's tiny run (the ``tiny_run`` fixture; nothing is rerun). The
tiny config has one capacity sweep only, so the captions of the other figure kinds (rho law,
anisotropy) are also rendered directly, as Snakemake renders them (Jinja2, then docutils), for
every sweep of the shipped configs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import warnings
import zipfile
from html import unescape
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from conftest import (
    DEFAULT_CONFIG,
    MEDIUM_CONFIG,
    PAPER_CONFIG,
    ROOT,
    SCHEMA,
    TINY_CONFIG,
    job_stats,
    load_yaml,
    output_of,
    run_snakemake,
)
from factmlp.config import validate_config

RULES_DIR = ROOT / "workflow" / "rules"

# Text docutils puts into a rendered caption when the reStructuredText has a problem.
RST_PROBLEMS = ("System Message", "ERROR/", "WARNING/", "SEVERE/", "Unknown target", "Undefined substitution",
                "Unknown interpreted text role", "Inline literal start-string without end-string",
                "Inline emphasis start-string without end-string")

# What each figure's caption must cite: the figure it describes (paper and figure number), so a
# caption that describes another figure fails. A rule newly wrapped in report() needs an entry.
CITES = {
    "plot_cost_ratios": "Dugan et al. Fig. 2c",
    "plot_quantized": "Allen-Zhu & Li",
    "report_tables": "itables",
    "plot_usability": "Dugan et al. Fig. 3",
    "plot_editing": "Dugan et al. Fig. 4",
    "plot_sequential": "AlphaEdit",
    "plot_nichani_memories": "Nichani et al. Fig. 1",
    "plot_nichani_recall": "Nichani et al. Fig. 4",
    "plot_nichani_sequential": "Nichani et al. Fig. 5",
}
# plot_claim_figures draws two figures, each with its own caption: the citation by figure.
CLAIM_FIGURES = {"rho_fit": "Dugan et al. Fig. 2a", "c2_ratios": "Dugan et al. Fig. 1 / 2b"}
# plot_capacity draws one figure per capacity sweep, of the sweep's figure kind: its citation and
# its x axis (the axis label of factmlp.plots.capacity) by kind.
CAPACITY_KINDS = {
    "scaling": ("Dugan et al. Fig. 1", "number of facts"),
    "rho_law": ("Dugan et al. Fig. 2a", "decodability rho(V)"),
    "anisotropy": ("Dugan et al. Fig. 5", "spike strength beta"),
}


def report_outputs() -> list[tuple[str, str, Path]]:
    """(rule, output path pattern, caption file) of every output the rule files wrap in report()."""
    found = []
    for smk in sorted(RULES_DIR.glob("*.smk")):
        text = smk.read_text(encoding="utf-8")
        starts = [(m.start(), m.group(1)) for m in re.finditer(r"^rule\s+(\w+)\s*:", text, flags=re.M)]
        for m in re.finditer(r"\breport\(\s*\"([^\"]+)\"(.*?)\n\s*\),", text, flags=re.S):
            rule = [name for pos, name in starts if pos < m.start()][-1]
            caption = re.search(r"caption\s*=\s*\"([^\"]+)\"", m.group(2))
            assert caption, f"{smk.name}: report({m.group(1)!r}) of rule {rule} has no caption"
            found.append((rule, m.group(1), (RULES_DIR / caption.group(1)).resolve()))
    return found


def pattern_regex(pattern: str) -> re.Pattern:
    """A report() output pattern (with {wildcards}) as a regex over paths."""
    parts = re.split(r"\{[^}]+\}", pattern)
    return re.compile("[^/]+".join(map(re.escape, parts)))


def caption_text(html: str) -> str:
    """A rendered caption as plain text, whitespace collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def render_caption(path: Path, config: dict, wildcards: dict) -> str:
    """The caption file rendered as Snakemake's report renders it (Jinja2 with ``snakemake``, then
    docutils to HTML), as plain text."""
    from docutils.core import publish_parts
    from jinja2 import Environment

    env = Environment(trim_blocks=True, lstrip_blocks=True)
    smk = SimpleNamespace(config=config, wildcards=SimpleNamespace(**wildcards), params=SimpleNamespace())
    rst = env.from_string(path.read_text(encoding="utf-8")).render(snakemake=smk)
    with warnings.catch_warnings():  # docutils 0.22 deprecates writer_name, which Snakemake passes
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        html = publish_parts(rst, writer_name="html", settings_overrides={"warning_stream": False})["body"]
    return caption_text(html)


def assert_clean(text: str, what: str) -> None:
    bad = [marker for marker in RST_PROBLEMS if marker in text]
    assert not bad, f"caption of {what} has reStructuredText problems {bad}: {text}"


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_report(tiny_run, tmp_path_factory):
    """`snakemake --report report.zip` in the tiny run's workdir: (workdir, {figure path: result
    entry of the report}, the report's HTML, the zip)."""
    work = tiny_run[0]
    before = {d: snapshot(work / d) for d in ("results", "logs")}
    dest = tmp_path_factory.mktemp("tiny_report") / "report.zip"
    proc = run_snakemake(work, "--configfile", TINY_CONFIG, "--report", dest, timeout=300)
    out = output_of(proc)
    assert proc.returncode == 0, out
    # building the report reads the results: it runs no job and writes nothing into results/ or logs/
    assert not job_stats(out) and "Finished job" not in out, out
    assert {d: snapshot(work / d) for d in ("results", "logs")} == before, "the report changed results/ or logs/"
    archive = zipfile.ZipFile(dest)
    html = archive.read("report/report.html").decode("utf-8")
    match = re.search(r"var results = (\{.*?\});\n", html)
    assert match, "no results table in report.html"
    return work, json.loads(match.group(1)), html, archive


def test_report_has_every_figure(tiny_report):
    """Every figure the tiny run made from an output wrapped in report() is in the report, with its
    own bytes, and every report() output of the workflow is made by the tiny run."""
    work, results, _, archive = tiny_report
    outputs = report_outputs()
    produced = {str(p.relative_to(work)) for p in (work / "results").rglob("*") if p.is_file()}
    for rule, pattern, caption in outputs:
        assert caption.is_file(), f"caption {caption} of rule {rule} does not exist"
        assert any(pattern_regex(pattern).fullmatch(p) for p in produced), \
            f"the tiny run makes no {pattern} (rule {rule}): the report test cannot check its caption"
    expected = {p for p in produced if any(pattern_regex(pat).fullmatch(p) for _, pat, _ in outputs)}
    assert set(results) == expected
    for path, entry in results.items():
        suffix = Path(path).suffix
        mime = {".pdf": "application/pdf", ".png": "image/png", ".html": "text/html"}
        assert entry["mime_type"] == mime[suffix], path
        assert archive.read(f"report/{entry['data_uri']}") == (work / path).read_bytes(), path


def test_report_captions(tiny_report):
    """Each figure has a caption that describes it (cites its figure), without docutils problems,
    and no two figures share a caption (the PDF and the PNG of one figure do)."""
    _, results, html, _ = tiny_report
    sweeps = {s["name"]: s.get("figure", "scaling") for s in load_yaml(TINY_CONFIG)["capacity"]["sweeps"]}
    by_caption: dict[str, set[str]] = {}
    for path, entry in results.items():
        text = caption_text(entry["caption"])
        assert text, f"{path} has no caption"
        assert_clean(text, path)
        rule = entry["job_properties"]["rule"]
        if rule == "plot_capacity":
            sweep = re.fullmatch(r"results/figures/capacity_(.+)\.(pdf|png)", path).group(1)
            cites, axis = CAPACITY_KINDS[sweeps[sweep]]
            assert sweep in text and axis in text, f"{path}: {text}"
        elif rule == "plot_claim_figures":
            cites = CLAIM_FIGURES[Path(path).stem]
        else:
            assert rule in CITES, f"rule {rule} makes a report figure: add what its caption cites to CITES"
            cites = CITES[rule]
        assert cites in text, f"the caption of {path} does not cite {cites!r}: {text}"
        by_caption.setdefault(text, set()).add(str(Path(path).with_suffix("")))
    shared = {text[:80]: sorted(stems) for text, stems in by_caption.items() if len(stems) > 1}
    assert not shared, f"figures share a caption: {shared}"
    assert "System Message" not in html, "the report (the workflow description?) has docutils messages"


@pytest.mark.parametrize("config_path", [DEFAULT_CONFIG, MEDIUM_CONFIG, PAPER_CONFIG], ids=lambda p: p.stem)
def test_captions_of_shipped_configs(config_path):
    """Every caption renders cleanly for every sweep of a shipped config; each capacity figure kind
    (scaling, rho law, anisotropy) has its own text, naming its sweep and its x axis."""
    config = validate_config(load_yaml(config_path), SCHEMA)
    sweeps = config["capacity"]["sweeps"]
    kinds = {}
    for rule, pattern, caption in report_outputs():
        if "{sweep}" not in pattern:
            assert_clean(render_caption(caption, config, {}), f"{pattern} ({config_path.name})")
            continue
        assert rule == "plot_capacity", rule
        for sweep in sweeps:
            text = render_caption(caption, config, {"sweep": sweep["name"]})
            assert_clean(text, f"{pattern}, sweep {sweep['name']} ({config_path.name})")
            cites, axis = CAPACITY_KINDS[sweep["figure"]]
            assert cites in text and axis in text and f"sweep {sweep['name']}" in text, text
            # with the sweep's name taken out, a caption of one kind is no caption of another kind
            kinds.setdefault(sweep["figure"], set()).add(text.replace(f"sweep {sweep['name']}", "sweep <name>"))
    for kind, texts in kinds.items():
        for other, other_texts in kinds.items():
            if kind < other:
                assert not texts & other_texts, f"capacity figures {kind} and {other} share a caption"
    assert set(kinds) == set(CAPACITY_KINDS), "a shipped config should draw every capacity figure kind"


# A load from the network: a script or stylesheet by URL, an ES import or CSS import/url() of one.
EXTERNAL_LOAD = re.compile(
    r"""<script[^>]*\ssrc\s*=\s*["']?(https?:)?//"""
    r"""|<link[^>]*\shref\s*=\s*["']?(https?:)?//"""
    r"""|\bimport\s*\(\s*["'](https?:)?//"""
    r"""|\bfrom\s*["'](https?:)?//"""
    r"""|@import\s+(url\()?\s*["']?(https?:)?//"""
    r"""|url\(\s*["']?(https?:)?//""",
    re.IGNORECASE,
)


def test_external_load_pattern_catches_the_usual_forms():
    for bad in ('<script src="https://cdn.x/dt.js">', "<link rel=stylesheet href=//cdn.x/a.css>",
                'import {DataTable} from "https://esm.sh/dt"', "@import url('https://f.x/a.css')",
                "background: url(http://x/a.png)"):
        assert EXTERNAL_LOAD.search(bad), bad
    for fine in ('<a href="https://itables.org/">help</a>', '<svg xmlns="http://www.w3.org/2000/svg">',
                 'import {DataTable} from "data:text/javascript;base64,AAAA"'):
        assert not EXTERNAL_LOAD.search(fine), fine


def test_report_loads_nothing_from_the_network_and_holds_the_tables_page(tiny_report):
    """The report works offline: no file in it loads a script, style or module by URL; the
    interactive tables page (rule report_tables) is in it with every table the tiny run makes."""
    _, results, _, archive = tiny_report
    loads = []
    for name in archive.namelist():
        if name.endswith((".html", ".js", ".css")):
            text = archive.read(name).decode("utf-8", errors="replace")
            loads += [f"{name}: {m.group(0)[:80]}" for m in EXTERNAL_LOAD.finditer(text)]
    assert not loads, loads
    page = [p for p in results if p.endswith("report/tables.html")]
    assert page, sorted(results)
    text = archive.read(f"report/{results[page[0]]['data_uri']}").decode("utf-8")
    for table in ("claims", "capacity", "usability", "editing_best", "runtimes"):
        assert f"<h2 id='{table}'>" in text, table


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium on this machine (Debian: apt-get install chromium)")
def test_tables_page_renders_in_a_headless_browser(tiny_run, tmp_path):
    """The tables page, opened offline by a real browser (headless Chromium, its DOM dumped after the
    scripts ran), shows each table as a DataTables widget: every itables table is turned into a
    `dataTable`, no longer hidden, with its rows counted from the TSV it came from."""
    work = tiny_run[0]
    page = work / "results" / "report" / "tables.html"
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                           f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    assert proc.returncode == 0 and "<h2" in dom, proc.stderr[-2000:]
    static = page.read_text()
    ids = re.findall(r'<table id="(itables_[0-9a-f_]+)"', static)
    assert len(ids) == len(re.findall(r"<h2 id=", static)) >= 5, ids  # one interactive table per section
    for table_id in ids:
        tag = re.search(rf'<table id="{table_id}"[^>]*>', dom)
        assert tag and "dataTable" in tag.group(0) and "hidden" not in tag.group(0), (table_id, tag)
    rows = {name: len(pd.read_csv(path, sep="\t")) for name, path in
            (("claims", work / "results" / "claims.tsv"), ("usability", work / "results/tables/usability.tsv"))}
    for name, n in rows.items():  # tables longer than a page say how many rows they hold
        section = dom.split(f'<h2 id="{name}">', 1)[1].split("<h2 id=", 1)[0]
        assert f"of {n} entries" in section, (name, n, re.findall(r"Showing [^<]*", section))
