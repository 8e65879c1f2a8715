"""The words of `sweep --check` (bench/output/check.py), on hand-built check.json documents."""

from bench.output.check import check_markdown, check_text

DOCUMENT = {
    "kind": "sweep-check",
    "points": [
        {"point": "sleep-20ms-solo-c1", "harness_steady_per_s": 44.1, "reference_steady_per_s": 41.3,
         "ratio": 44.1 / 41.3, "harness_findings": [], "reference_findings": [], "verdict": "agree"},
        {"point": "sleep-15ms-gevent-c32", "harness_steady_per_s": 9.0, "reference_steady_per_s": 12.0,
         "ratio": 0.75, "harness_findings": ["idle_gaps"], "reference_findings": ["duplicates", "idle_gaps"],
         "verdict": "differ"},
        {"point": "sleep-20ms-threads-c2-w2", "skipped": "2 workers: the reference runs one"},
    ],
}  # fmt: skip


def test_the_check_table_marks_a_point_outside_ten_percent_and_names_it():
    text = check_text(DOCUMENT)
    solo = next(line for line in text.splitlines() if "solo-c1 " in line)
    assert "1.07" in solo
    assert "*" not in solo
    gevent = next(line for line in text.splitlines() if "gevent" in line)
    assert "0.75 *" in gevent
    assert "harness: idle_gaps; plain worker: duplicates, idle_gaps" in gevent
    assert "not checked: 2 workers: the reference runs one" in text
    assert text.splitlines()[-1] == (
        "1 of 2 checked points differ from a plain worker by more than 10%: sleep-15ms-gevent-c32 "
        "(see check.json for each verdict)"
    )


def test_a_check_where_all_agree_says_so():
    agreeing = {"points": DOCUMENT["points"][:1]}
    assert check_text(agreeing).splitlines()[-1] == "the checked point agrees with a plain worker within 10%"


def test_the_reports_check_section_is_a_markdown_table():
    text = check_markdown(DOCUMENT)
    assert "## Fidelity check: the harness against a plain worker" in text
    rows = [line for line in text.splitlines() if line.startswith("| sleep")]
    assert len(rows) == 3
    assert all(row.count("|") == 6 for row in rows)
