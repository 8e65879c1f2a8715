"""`python -m bench report SWEEP_DIR`: the sweep's report files, without Celery."""

from bench.output.export import report_sweep


def execute(sweep_dir):
    for path in report_sweep(sweep_dir):
        if path.suffix in (".md", ".html", ".csv") or path.name == "overview.png":
            print(path)
    return 0
