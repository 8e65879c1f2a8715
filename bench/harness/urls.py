"""Broker URLs: which ones the harness takes, and how they are shown
(always with the password redacted). No network, no kombu: the read-only
commands use this too."""

from urllib.parse import urlsplit

from bench.errors import UsageError

SCHEMES = {"redis": "redis", "rediss": "redis", "amqp": "amqp", "pyamqp": "amqp"}


def redact(url):
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


def check_url(url):
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
