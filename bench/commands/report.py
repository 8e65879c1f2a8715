"""`python -m bench report SWEEP_DIR`: the sweep's report files, without Celery."""

from bench.commands import sweep_dir
from bench.output.export import report


def execute(path):
    made = report(sweep_dir(path))
    print(made.text)
    print()
    for written in made.written:
        if written.suffix in (".md", ".html", ".csv") or written.name == "overview.png":
            print(written)
    return 0
