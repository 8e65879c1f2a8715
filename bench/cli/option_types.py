"""Option types: each turns one argument into a value, or says why not
(argparse.ArgumentTypeError, which the parser reports as one line)."""

import argparse
from collections.abc import Callable, Collection

from bench.analysis import capacity
from bench.harness.cgroups import check_cpu_limit
from bench.harness.sizes import parse_kib, parse_size
from bench.harness.urls import parse_listen
from bench.measure.settings import parse_seconds


def whole(minimum: int) -> Callable[[str], int]:
    """A parser of a whole number of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def int_list(least: int, what: str, bound: str) -> Callable[[str], list[int]]:
    """A parser of comma-separated integers, each at least `least`; `what`
    names them in the errors, `bound` says the least in words."""

    def parse(text: str) -> list[int]:
        try:
            values = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}") from None
        if not values or min(values) < least:
            raise argparse.ArgumentTypeError(f"expected comma-separated {what} {bound}, got {text!r}")
        return values

    return parse


whole_list = int_list(1, "whole numbers", "of at least 1")
cpu_ids = int_list(0, "CPU ids", "(0 or more)")


def host_names(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected agent names separated by commas, or all; got {text!r}")
    return names


def names(known: Collection[str]) -> Callable[[str], list[str]]:
    """A parser of comma-separated names, each one of `known`."""

    def parse(text: str) -> list[str]:
        chosen = [v.strip() for v in text.split(",") if v.strip()]
        unknown = [n for n in chosen if n not in known]
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(f"unknown {unknown or text!r}; choose from {','.join(known)}")
        return chosen

    return parse


def one_name(known: Collection[str]) -> Callable[[str], list[str]]:
    """One name of `known`, as the one-element list a field of names takes."""

    def parse(text: str) -> list[str]:
        if text.strip() not in known:
            raise argparse.ArgumentTypeError(f"unknown {text!r}; choose one of {','.join(known)}")
        return [text.strip()]

    return parse


def vary(text: str) -> tuple[str, tuple[str, ...]]:
    """--vary NAME=V1,V2: (name, (value, ...)); the values are checked with
    the other options (build_sweep_config)."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=V1,V2,..., got {text!r}")
    return name.strip(), tuple(v.strip() for v in values.split(",") if v.strip())


def positive_ms(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected milliseconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of milliseconds above 0, got {text!r}")
    return value


def positive_number(what: str) -> Callable[[str], float]:
    """A parser of a finite number above 0; `what` names it in the errors."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"must be {what} above 0, got {text!r}")
        return value

    return parse


def probability(text: str) -> float:
    """A probability, 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a probability, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a probability, between 0 and 1, got {text!r}")
    return value


def listen(text: str) -> tuple[str, int | None]:
    """ADDRESS[:PORT] -> (address, port or None)."""
    try:
        return parse_listen(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an IP address of this host, or ADDRESS:PORT, got {text!r}"
        ) from None


def slo(text: str) -> capacity.Objective:
    try:
        return capacity.parse_slo(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def fixed_rates(text: str) -> tuple[float, ...]:
    """Comma-separated arrival rates, the same for both sides of an A/B."""
    if text.strip() == "auto":
        raise argparse.ArgumentTypeError("auto would offer each side its own rates; give the rates in tasks/s")
    found = rates(text)
    assert not isinstance(found, str)  # only "auto" is a word
    return found


def rates(text: str) -> str | tuple[float, ...]:
    """auto, or comma-separated arrival rates: sorted, without repeats."""
    if text.strip() == "auto":
        return "auto"
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or comma-separated tasks/s, got {text!r}") from None
    if not values or not all(0 < v < float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"expected auto or comma-separated rates above 0, got {text!r}")
    return tuple(sorted(set(values)))


def size_bytes(text: str) -> int:
    """A memory size: 512MiB, 2GiB, 1.5GB, 800M (decimal units unless the i says binary)."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def size_kib(text: str) -> int:
    """A memory size in KiB, rounded: 200MiB, 1.5GB, 204800KiB; 0: none."""
    try:
        return parse_kib(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cpu_limit(text: str) -> float:
    """Cores of CPU quota: a number above 0 (1.5: one and a half cores)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected cores, such as 0.5 or 1.5, got {text!r}") from None
    try:
        check_cpu_limit(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def seconds(zero_allowed: bool) -> Callable[[str], float]:
    """A parser of seconds written as 10 or 10s: above 0, or 0 and more
    with `zero_allowed`."""

    def parse(text: str) -> float:
        try:
            return parse_seconds(text, zero_allowed)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


# A deploy event's time, a grace: 3, 3s, 500ms, 2m
duration = seconds(zero_allowed=False)
