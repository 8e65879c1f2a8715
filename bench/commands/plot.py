"""`python -m bench plot SWEEP_DIR`: the sweep's figures, without Celery."""

from bench.output.export import plot_sweep


def execute(sweep_dir):
    written = plot_sweep(sweep_dir)
    print(f"{len(written)} figures in {sweep_dir}")
    return 0
