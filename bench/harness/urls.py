"""Broker URLs: which ones the harness takes, and how they are shown
(always with the password redacted). No network, no kombu: the read-only
commands use this too."""

import hashlib
import hmac
import ipaddress
from typing import overload
from urllib.parse import urlsplit

from bench.errors import UsageError

SCHEMES = {"redis": "redis", "rediss": "redis", "amqp": "amqp", "pyamqp": "amqp"}


@overload
def redact(url: str) -> str: ...
@overload
def redact(url: None) -> None: ...
def redact(url: str | None) -> str | None:
    """The URL with any password replaced by ``**``. Works on malformed URLs
    too, since it is used in the messages that report them."""
    if url is None:
        return None
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, path = rest.partition("/")
    if "@" not in netloc:
        return url
    userinfo, host = netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:**@{host}{slash}{path}"


def broker_kind(url: str) -> str | None:
    """The kind of broker a URL's scheme names, redis or amqp; None for another scheme."""
    return SCHEMES.get(urlsplit(url).scheme)


def check_url(url: str) -> None:
    """Raise UsageError unless `url` is a broker URL this harness supports."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"--broker: malformed URL {redact(url)!r} ({exc})") from None
    if parts.scheme not in SCHEMES:
        raise UsageError(
            f"--broker: unsupported scheme {parts.scheme!r} in {redact(url)!r}; use redis://, rediss:// or amqp://"
        )
    if not parts.hostname:
        raise UsageError(f"--broker: no host in {redact(url)!r}; e.g. redis://127.0.0.1:6379/0")
    if port == 0:
        raise UsageError(f"--broker: port 0 in {redact(url)!r}")


def url_host(address: str) -> str:
    """An IP address as a URL's host ([...] for IPv6)."""
    return f"[{address}]" if ":" in address else address


def derived_password(secret: bytes) -> str:
    """The password of a harness's broker that agents know in advance
    (run/sweep --listen ADDRESS:PORT, agent --harness ADDRESS:PORT): an HMAC
    of the shared secret (bytes), so the secret itself never travels."""
    return hmac.new(secret, b"celery-bench: the password of a harness's broker", hashlib.sha256).hexdigest()[:40]


def harness_url(address: str, port: int, secret: bytes) -> str:
    """The URL of a harness's broker at ADDRESS:PORT, its password derived from `secret`."""
    return f"redis://:{derived_password(secret)}@{url_host(address)}:{port}/0"


def parse_listen(text: str) -> tuple[str, int | None]:
    """(address, port or None) from ADDRESS, ADDRESS:PORT or [IPV6]:PORT;
    ValueError when it is none of them."""
    text = text.strip()
    port = None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(text)
        port = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host = text
    address = str(ipaddress.ip_address(host))
    if port is None:
        return address, None
    number = int(port)
    if not 1 <= number <= 65535:
        raise ValueError(port)
    return address, number
