"""`python -m bench agent`: serve a harness's signed commands on this host."""

from bench.fleet import agent


def execute(cfg):
    return agent.serve(cfg)
