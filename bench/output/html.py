"""report.html: report.md as one self-contained page (images embedded), for
a browser with no server. It converts the small Markdown subset that
report_markdown writes, so both formats say the same thing."""

import base64
import html
import re
from pathlib import Path

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; } tr:nth-child(even) td { background: #fafafa; }
code { background: #f3f3f3; padding: 0 0.25em; border-radius: 3px; }
img { max-width: 100%; height: auto; display: block; margin: 0.6em 0; }
figure { margin: 0; } figcaption { color: #555; font-size: 0.9em; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 1em; margin: 1em 0; }
nav.toc { background: #f7f7f7; border: 1px solid #ddd; padding: 0.4em 1em; display: inline-block; }
nav.toc ul { margin: 0.2em 0; padding-left: 1.2em; }
td.warnings { color: #8a4b00; font-size: 0.9em; max-width: 28em; }
"""

_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)]+)\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")


def _embed(directory, name, alt):
    path = Path(directory) / name
    if not path.exists():
        return f"<em>(missing figure {html.escape(name)})</em>"
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _inline(text, directory):
    text = html.escape(text, quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = _IMAGE.sub(lambda m: _embed(directory, m.group(2), m.group(1)), text)

    def link(m: re.Match[str]) -> str:
        label, target = m.group(1), m.group(2)
        if target.endswith(".png"):
            return f"<figure>{_embed(directory, target, label)}<figcaption>{label}</figcaption></figure>"
        return f'<a href="{target}">{label}</a>'

    return _LINK.sub(link, text)


_FIGURES = re.compile(r"- ([^:\[]+): ((?:\[[^\]]+\]\([^)]+\.png\)(?:, )?)+)$")


def _slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _grid(label, links, directory):
    """A list item of figure links as a heading and a grid of figures."""
    cells = [
        f"<figure>{_embed(directory, target, f'{label}: {name}')}<figcaption>{html.escape(name)}</figcaption></figure>"
        for name, target in _LINK.findall(links)
    ]
    return [f"<h3>{html.escape(label)}</h3>", '<div class="grid">', *cells, "</div>"]


def _toc(lines):
    """Links to each second-level heading."""
    items = [
        f'<li><a href="#{_slug(m.group(1))}">{html.escape(m.group(1))}</a></li>'
        for m in (re.match(r"## (.*)", line) for line in lines)
        if m
    ]
    return ['<nav class="toc"><strong>Contents</strong><ul>', *items, "</ul></nav>"]


def render(markdown: str, directory: str | Path) -> str:
    """The HTML page of `markdown`, with the PNGs it names (found in
    `directory`) embedded as data URIs."""
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>celery-bench sweep report</title>",
        f"<style>{STYLE}</style></head><body>",
    ]
    lines = markdown.splitlines()
    toc_at = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([cell.strip() for cell in lines[i].strip("|").split("|")])
                i += 1
            header, body = rows[0], [r for r in rows[1:] if not all(set(c) <= {"-", ":"} for c in r)]
            out.append("<table><thead><tr>" + "".join(f"<th>{_inline(c, directory)}</th>" for c in header))
            out.append("</tr></thead><tbody>")
            # A "warnings" column stays in its row: each warning beside what it qualifies.
            kinds = [' class="warnings"' if c == "warnings" else "" for c in header]
            for row in body:
                cells = "".join(f"<td{kind}>{_inline(c, directory)}</td>" for kind, c in zip(kinds, row, strict=False))
                out.append("<tr>" + cells + "</tr>")
            out.append("</tbody></table>")
            continue
        figures = _FIGURES.match(line)
        if figures:
            out += _grid(figures.group(1), figures.group(2), directory)
            i += 1
            continue
        if line.startswith("- "):
            out.append("<ul>")
            while i < len(lines) and lines[i].startswith("- "):
                out.append(f"<li>{_inline(lines[i][2:], directory)}</li>")
                i += 1
            out.append("</ul>")
            continue
        heading = re.match(r"(#+) (.*)", line)
        if heading:
            level, text = len(heading.group(1)), heading.group(2)
            anchor = f' id="{_slug(text)}"' if level == 2 else ""
            out.append(f"<h{level}{anchor}>{_inline(text, directory)}</h{level}>")
            if level == 1:
                toc_at = len(out)
        elif line.strip():
            out.append(f"<p>{_inline(line, directory)}</p>")
        i += 1
    if toc_at is not None:
        out[toc_at:toc_at] = _toc(lines)
    out.append("</body></html>")
    return "\n".join(out) + "\n"
