"""The command line: argv -> typed request -> pipeline -> output. Errors are
printed once, as one line (main.py).

    option_types.py  each turns one argument into a value, or says why not
    parser.py        the parsers' rules (one-line errors, no abbreviations), and `given`:
                     each option that fills a request field declares it (`fills=`)
    groups.py        option groups shared by subcommands, each option declared once
    worker_groups.py the shared option groups of a worker's settings (stops, prefetch, limits, deploys)
    measuring.py     the parsers of run, capacity, sweep, profile, ab
    reading.py       the parsers of plot, report, compare
    serving.py       the parsers of broker, agent, agents
    scenario.py      the scenario file ([tool.celery-bench], --config): TOML keys -> options
    builders.py      one per subcommand: parsed options -> the typed request it runs
    main.py          the dispatch table (COMMANDS), create_parser and main

An option whose default belongs to a config is declared with no default: the
CLI passes only what the user gave, and the config builder (measure/config.py,
sweep/config.py) fills in the rest, so every default is written once; the help
texts show those same constants. Each subcommand's module in bench/commands/
is imported only when its subcommand is chosen (the one import made at run
time, in main), so `report`, `plot` and `compare` never load Celery.
"""

from bench.cli.main import COMMANDS, EXAMPLES, create_parser, main

__all__ = ["COMMANDS", "EXAMPLES", "create_parser", "main"]
