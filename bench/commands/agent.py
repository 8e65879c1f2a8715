"""`python -m bench agent`: serve a harness's signed commands on this host."""

from bench.fleet import agent
from bench.fleet.options import AgentConfig


def execute(cfg: AgentConfig) -> int:
    return agent.serve(cfg)
