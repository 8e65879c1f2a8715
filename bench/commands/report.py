"""`python -m bench report SWEEP_DIR`: the sweep's report files, without Celery."""

from bench.commands import sweep_dir
from bench.output.export import report_sweep


def execute(path):
    for written in report_sweep(sweep_dir(path)):
        if written.suffix in (".md", ".html", ".csv") or written.name == "overview.png":
            print(written)
    return 0
