"""`python -m bench compare BASELINE CANDIDATE`: the decision printed, and
the exit code it implies; without Celery."""

import dataclasses

from bench.commands import result_path
from bench.output import compare


def execute(cfg):
    cfg = dataclasses.replace(cfg, baseline=result_path(cfg.baseline), candidate=result_path(cfg.candidate))
    text, failure = compare.command(cfg)
    print(text)
    if failure is not None:
        raise failure
    return 0
