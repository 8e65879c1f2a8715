"""`python -m bench compare BASELINE CANDIDATE`: the decision printed, and
the exit code it implies; without Celery."""

from bench.analysis import compare


def execute(cfg):
    text, failure = compare.command(cfg)
    print(text)
    if failure is not None:
        raise failure
    return 0
