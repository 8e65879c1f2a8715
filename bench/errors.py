"""The errors the CLI turns into one line on stderr and an exit code."""


class BenchError(Exception):
    """An error with a message meant for the user and the exit code it ends with."""

    exit_code = 1


class UsageError(BenchError):
    """Bad input: an option, a file or a URL the user gave (exit 2)."""

    exit_code = 2


class RunFailed(BenchError):
    """The measurement could not be made or is not valid (exit 1)."""

    exit_code = 1


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM: stop, clean up, keep what was measured (exit 130).

    A BaseException, as KeyboardInterrupt is: the signal handler raises it
    wherever the main thread is, and libraries' `except Exception` must not
    turn it into their own error (inspect.getfullargspec, under kombu's
    connect, re-raised it as "TypeError: unsupported callable")."""

    exit_code = 130


class Regression(BenchError):
    """`compare`: the candidate is significantly slower than the baseline (exit 1)."""

    exit_code = 1


class Unstable(BenchError):
    """`compare --fail-on-unstable`: a point is too unstable to decide (exit 3)."""

    exit_code = 3
