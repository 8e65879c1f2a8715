"""The parsers of the subcommands that serve other hosts: broker (the
private broker, kept), agent (on each worker host) and agents (who answers)."""

from bench.cli import option_types
from bench.cli.groups import add_listen, add_redis_server
from bench.cli.parser import Subcommands


def add_broker(sub: Subcommands) -> None:
    brk = sub.add_parser(
        "broker",
        help="start the private broker and print how to point `celery -A proj worker` at it",
        description="Start the private broker and keep it until Ctrl-C, to run the tutorial's worker by hand, "
        "or to serve a fleet of agents (--listen).",
    )
    add_redis_server(brk)
    add_listen(brk)


def add_agent(sub: Subcommands) -> None:
    agt = sub.add_parser(
        "agent",
        help="run on each worker host: start the workers of a harness's points (signed commands only)",
        description="Wait on the broker for signed commands from a harness (run/sweep --hosts) and run the "
        "workers of its points on this host. Needs CELERY_BENCH_SECRET (the same on every host). "
        "Ctrl-C or SIGTERM stops it and everything it started.",
    )
    where = agt.add_mutually_exclusive_group(required=True)
    where.add_argument("--broker", metavar="URL", help="the broker the harness uses")
    where.add_argument(
        "--harness",
        type=option_types.listen,
        metavar="ADDRESS:PORT",
        help="the broker of a harness's run or sweep started with --listen ADDRESS:PORT (its password derived "
        "from CELERY_BENCH_SECRET); the agent waits for it, and again after each run",
    )
    agt.add_argument("--name", metavar="NAME", help="this host's name for --hosts (default: the hostname)")
    agt.add_argument(
        "--allow-app",
        metavar="MODULE",
        action="append",
        dest="allow_apps",
        help="a Celery app this agent may start workers for; repeat for more (default: proj)",
    )
    agt.add_argument("--cpus", type=option_types.cpu_ids, metavar="LIST", help="pin every worker to these CPU ids")


def add_agents(sub: Subcommands) -> None:
    ags = sub.add_parser(
        "agents",
        help="list the agents that answer on a broker, with cores, versions and clock offset",
        description="Ask every agent on the broker who it is (signed with CELERY_BENCH_SECRET), and "
        "measure its clock offset by round trips through the broker.",
    )
    ags.add_argument("--broker", metavar="URL", required=True, help="the broker the agents use")
