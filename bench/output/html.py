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
figure { margin: 1em 0; } figcaption { color: #555; font-size: 0.9em; }
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

    def link(m):
        label, target = m.group(1), m.group(2)
        if target.endswith(".png"):
            return f"<figure>{_embed(directory, target, label)}<figcaption>{label}</figcaption></figure>"
        return f'<a href="{target}">{label}</a>'

    return _LINK.sub(link, text)


def render(markdown, directory):
    """The HTML page of `markdown`, with the PNGs it names (found in
    `directory`) embedded as data URIs."""
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>celery-bench sweep report</title>",
        f"<style>{STYLE}</style></head><body>",
    ]
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([cell.strip() for cell in lines[i].strip("|").split("|")])
                i += 1
            header, body = rows[0], [r for r in rows[1:] if not all(set(c) <= {"-"} for c in r)]
            out.append("<table><thead><tr>" + "".join(f"<th>{_inline(c, directory)}</th>" for c in header))
            out.append("</tr></thead><tbody>")
            for row in body:
                out.append("<tr>" + "".join(f"<td>{_inline(c, directory)}</td>" for c in row) + "</tr>")
            out.append("</tbody></table>")
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
            level = len(heading.group(1))
            out.append(f"<h{level}>{_inline(heading.group(2), directory)}</h{level}>")
        elif line.strip():
            out.append(f"<p>{_inline(line, directory)}</p>")
        i += 1
    out.append("</body></html>")
    return "\n".join(out) + "\n"
