"""`history --html`: one self-contained page (figures embedded as PNG data
URIs), asv-like: what the newest result says, the changes found, one
figure per series over the results, the environment's changes, and every
result read."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable

from bench.analysis.history import Change, History, Series, newest_failures, newest_regressions, short_commit
from bench.output.compare import changes_words
from bench.output.history import (
    HEADER,
    change_row,
    environment_at,
    headline,
    newest_words,
    result_words,
    rule,
    when,
)
from bench.output.html import STYLE
from bench.results.history import series_label

PAGE_STYLE = (
    STYLE
    + """
body { max-width: 1500px; background: #fcfcfc; }
header p { color: #555; margin-top: -0.6em; }
.verdict { padding: 0.7em 1em; border-radius: 6px; margin: 1em 0; font-weight: 600; }
.verdict.good { background: #e8f5ee; border: 1px solid #9fd3b5; color: #1d5c38; }
.verdict.bad { background: #fdece6; border: 1px solid #f0a98c; color: #8a2c0a; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.worse td.change { color: #b84a00; font-weight: 600; }
tr.better td.change { color: #00775a; font-weight: 600; }
td.env { color: #8a4b00; font-size: 0.85em; }
.grid { grid-template-columns: repeat(auto-fill, minmax(660px, 1fr)); }
figure.series { background: white; border: 1px solid #e3e3e3; border-radius: 6px; padding: 0.5em; }
figure.series.changed { border-color: #f0a98c; }
figure.series img { width: 100%; margin: 0; }
figure.series figcaption { padding: 0 0.4em; }
footer { color: #666; font-size: 0.85em; margin: 2em 0; border-top: 1px solid #ddd; padding-top: 0.6em; }
"""
)

# Draws one series' figure as PNG bytes (output/plot_history.py): passed
# in, so this module stays text and its tests need no matplotlib.
Draw = Callable[[History, Series, str], bytes]


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _changes_table(history: History) -> list[str]:
    changes = history.changes
    if not changes:
        return [f"<p>No change of at least {history.threshold:.0%} found in any series.</p>"]
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in HEADER), "<th>environment at that result</th>"]
    out.append("</tr></thead><tbody>")
    for change in changes:
        cells = change_row(history, change)
        env = environment_at(history, change.at)
        kind = "worse" if change.worse else "better"
        tds = [
            f"<td><a href='#{_anchor(change.key.name, change.key.setting)}'><code>{_e(cells[0])}</code></a></td>",
            f"<td><code>{_e(cells[1])}</code></td>",
            f"<td>{_e(cells[2])}</td>",
            *(f"<td class='num'>{_e(c)}</td>" for c in cells[3:5]),
            f"<td class='num change'>{_e(cells[5])}</td>",
            *(f"<td class='num'>{_e(c)}</td>" for c in cells[6:]),
            f"<td class='env'>{_e(changes_words(env.changes)) if env else ''}</td>",
        ]
        out.append(f"<tr class='{kind}'>{''.join(tds)}</tr>")
    out.append("</tbody></table>")
    out.append(
        "<p class='note'>before and after: the geometric mean of each result's median either side of the change, "
        "up to the next; results: how many on each side.</p>"
    )
    return out


def _anchor(name: str, setting: str = "") -> str:
    text = f"{name}-{setting}" if setting else name
    return "s-" + "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")


def _figures(history: History, draw: Draw) -> list[str]:
    keys = [s.key for s in history.series]
    # Series with a change first, the largest change first; then the rest in order.
    ordered = sorted(history.series, key=lambda s: -max((abs(c.change) for c in s.changes), default=0.0))
    out = ['<div class="grid">']
    for series in ordered:
        label = series_label(series.key, keys)
        data = base64.b64encode(draw(history, series, label)).decode()
        caption = _caption(series)
        changed = " changed" if series.changes else ""
        out.append(
            f'<figure class="series{changed}" id="{_anchor(series.key.name, series.key.setting)}">'
            f'<img alt="{_e(label)} over the results" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>"
        )
    out.append("</div>")
    return out


def _caption(series: Series) -> str:
    measured = f"{len(series.levels)} result(s) measured it"
    failed = f"; every repeat failed in {len(series.failed_at)}" if series.failed_at else ""
    if not series.changes:
        return f"{measured}{failed}; no change found."
    return f"{measured}{failed}; " + "; ".join(_change_words(c) for c in series.changes) + "."


def _change_words(change: Change) -> str:
    direction = "worse" if change.worse else "better"
    return f"{change.change * 100:+.1f}% ({direction}) at result {change.at + 1}"


def _environment(history: History) -> list[str]:
    if not history.environment_changes:
        return ["<p>Every result was measured with the same recorded environment (apart from the commit).</p>"]
    items = [
        f"<li>{_e(result_words(history, e.at))}: {_e(changes_words(e.changes))}</li>"
        for e in history.environment_changes
    ]
    return [
        "<p>A change that comes with one of these may be the environment's doing, not the code's:</p>",
        "<ul>",
        *items,
        "</ul>",
    ]


def _results(history: History) -> list[str]:
    out = [
        "<table><thead><tr><th>#</th><th>commit</th><th>measured (UTC)</th><th>kind</th><th>host</th>"
        "<th>path</th></tr></thead><tbody>"
    ]
    for i, r in enumerate(history.results):
        hosts = ", ".join(sorted(r.hostnames)) or "?"
        cells = [
            f"<td class='num'>{i + 1}</td>",
            f"<td><code>{_e(short_commit(r.commit))}</code></td>",
            f"<td>{_e(when(r))}</td>",
            f"<td>{_e(r.kind)}</td>",
            f"<td>{_e(hosts)}</td>",
            f"<td><code>{_e(r.path)}</code></td>",
        ]
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    return out


def render(history: History, draw: Draw) -> str:
    """The page, every figure drawn by `draw` and embedded."""
    bad = "bad" if newest_regressions(history) or newest_failures(history) else "good"
    verdict = newest_words(history)
    body = [
        "<header><h1>celery-bench history</h1>",
        f"<p>{_e(headline(history))}</p></header>",
        f'<div class="verdict {bad}">{_e(verdict[0].upper() + verdict[1:])}.</div>',
        '<nav class="toc"><strong>Contents</strong><ul>'
        '<li><a href="#changes">Changes found</a></li><li><a href="#series">Series</a></li>'
        '<li><a href="#environment">Environment</a></li><li><a href="#results">Results</a></li></ul></nav>',
        '<h2 id="changes">Changes found</h2>',
        *_changes_table(history),
        f'<h2 id="series">Series ({len(history.series)})</h2>',
        "<p>Each result's median with its 95% CI (the band); the dashed line is the level between changes; "
        "a coloured vertical line is a change (vermillion for the worse, green for the better), a dotted one "
        "a change of environment.</p>",
        *_figures(history, draw),
        '<h2 id="environment">Environment</h2>',
        *_environment(history),
        f'<h2 id="results">Results ({len(history.results)})</h2>',
        *_results(history),
        f"<footer>{_e(rule(history))}. Made by <code>python -m bench history</code>.</footer>",
    ]
    head = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>celery-bench history</title>",
        f"<style>{PAGE_STYLE}</style></head><body>",
    ]
    return "\n".join([*head, *body, "</body></html>"]) + "\n"
