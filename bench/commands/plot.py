"""`python -m bench plot SWEEP_DIR`: the sweep's figures, without Celery."""

from bench.commands import sweep_dir
from bench.output.export import plot_sweep


def execute(path):
    found = sweep_dir(path)
    written = plot_sweep(found)
    print(f"{len(written)} figures in {found}")
    return 0
