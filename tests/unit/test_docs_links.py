"""The README is a short front page and docs/ holds the rest: every relative
link in them leads to a file of the repository (and a #fragment to a heading
of that file), every docs page is reachable from the README, and no page
points outside the repository."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
MAX_README_LINES = 200

# [text](target) and ![alt](target); the target ends at whitespace or ")".
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", flags=re.S | re.M)


def links(page):
    """The link targets of a Markdown page, outside fenced code blocks."""
    return LINK.findall(FENCE.sub("", page.read_text()))


def relative_links(page):
    return [t for t in links(page) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def heading_anchors(page):
    """GitHub's anchor for each heading: lower case, punctuation dropped,
    spaces as hyphens."""
    headings = re.findall(r"^#{1,6} +(.+?) *$", FENCE.sub("", page.read_text()), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def resolve(page, target):
    path, _, anchor = target.partition("#")
    return (page.parent / path).resolve() if path else page, anchor


def test_the_readme_is_a_front_page_of_at_most_200_lines():
    assert len(README.read_text().splitlines()) <= MAX_README_LINES


def test_the_pages_have_links_to_check():
    assert len(DOCS) >= 8
    assert len(relative_links(README)) >= 10
    for page in DOCS:
        assert relative_links(page), f"{page.name} links to no other page"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_leads_to_a_file_of_the_repository(page):
    for target in relative_links(page):
        path, anchor = resolve(page, target)
        assert path.is_relative_to(ROOT), f"{target} leads outside the repository"
        assert path.exists(), f"{target}: no such file"
        if anchor and path.suffix == ".md":
            assert anchor in heading_anchors(path), f"{target}: no such heading in {path.name}"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {resolve(README, t)[0] for t in relative_links(README)}
    assert [p.name for p in DOCS if p not in linked] == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_page_names_a_path_outside_the_repository(page):
    text = page.read_text()
    for outside in ("../shared", "/work/"):
        assert outside not in text


def test_the_link_check_finds_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[ok](page.md) [heading](page.md#a-heading) [web](https://example.org)\n# A heading\n")
    assert relative_links(page) == ["page.md", "page.md#a-heading"]
    assert heading_anchors(page) == {"a-heading"}
    assert not resolve(page, "missing.md")[0].exists()
