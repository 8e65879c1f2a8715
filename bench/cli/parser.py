"""The parser's two rules, and how the options given become a request.

Every parser errs in one line (exit 2) and takes no abbreviations. An option
that fills a field of the typed request (a keyword of build_run_config,
build_sweep_config...) says which, where it is declared (`fills=`), and has
no default of its own: the config builder writes every default once. So the
options given are the ones whose value is not None, and `given` derives them
from those declarations: no builder lists them again."""

import argparse
from collections.abc import Iterable
from typing import Any, NoReturn, TypeAlias

from bench.errors import UsageError

# The parsed options carry {argparse dest: (request field, ...)} under this
# name: a subcommand's parser sets it as a default (argparse's set_defaults,
# as its docs attach a handler to a subcommand), so a parse of that
# subcommand brings its own declarations along.
FILLS = "fills"


class Parser(argparse.ArgumentParser):
    """argparse, with errors as one line (no usage dump) and exit code 2, and
    no abbreviations: `--task` must never be taken for `--task-ms`."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)  # main() names the subcommand


# What a subcommand is added to, and what an option is declared on (a
# parser or one of its groups): argparse's own classes, private there.
Subcommands: TypeAlias = "argparse._SubParsersAction[Parser]"
Container: TypeAlias = argparse._ActionsContainer
Group: TypeAlias = argparse._ArgumentGroup


def option(
    container: Container, *flags: str, fills: str | Iterable[str] | None = None, **settings: Any
) -> argparse.Action:
    """container.add_argument(*flags, **settings), on a parser or one of its
    groups. `fills`: the request field the option fills, or fields that its
    value (a tuple) is spread over; it is passed on only when given."""
    if fills is not None and settings.get("default") is not None:
        raise ValueError(f"{flags[0]}: an option that fills a request field has no default of its own")
    action = container.add_argument(*flags, **settings)
    if fills is not None:
        # A group shares its parser's defaults: this lands on the parser.
        known = container.get_default(FILLS) or {}
        container.set_defaults(**{FILLS: {**known, action.dest: (fills,) if isinstance(fills, str) else fills}})
    return action


def given(args: argparse.Namespace) -> dict[str, Any]:
    """{request field: value} of the options given, on the command line or
    by the scenario file; the config builder defaults the other fields."""
    fields: dict[str, Any] = {}  # keywords of a config builder, each of its own type
    for dest, names in (getattr(args, FILLS, None) or {}).items():
        value = getattr(args, dest)
        if value is None:
            continue
        values = value if len(names) > 1 else (value,)
        fields.update((name, part) for name, part in zip(names, values, strict=True) if part is not None)
    return fields
