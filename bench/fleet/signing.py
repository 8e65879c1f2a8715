"""Signed messages: nothing an agent or the harness receives is trusted
unless it carries a valid HMAC-SHA256 over its canonical body, made with the
shared secret in CELERY_BENCH_SECRET, a timestamp inside the freshness
window and a nonce never seen before (a replay is refused).

Pure apart from the clock, which callers pass (`now`, wall-clock seconds:
the timestamp is a wall-clock time, so hosts must agree on it within the
window, which NTP gives; the measured times use their own clock, see
clock.py)."""

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

SECRET_ENV = "CELERY_BENCH_SECRET"
MIN_SECRET_CHARS = 16
# A message older (or newer) than this is refused; nonces are remembered
# this long, so a replay inside the window is refused as a replay.
FRESH_WINDOW_S = 60.0


class Refused(Exception):
    """A message that is not trusted; the text says why, in one line."""


def check_secret(secret: str | None) -> tuple[bytes, None] | tuple[None, str]:
    """The secret as bytes, or UsageError-worthy text saying why not (None)."""
    if not secret:
        return None, f"{SECRET_ENV} is not set: agents and the harness share it to sign every command"
    if len(secret) < MIN_SECRET_CHARS:
        return None, f"{SECRET_ENV} is too short: use at least {MIN_SECRET_CHARS} characters"
    return secret.encode(), None


def canonical(body: dict[str, Any]) -> bytes:
    """The bytes that are signed: JSON with sorted keys and no spaces."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def digest(secret: bytes, body: dict[str, Any]) -> str:
    return hmac.new(secret, canonical(body), hashlib.sha256).hexdigest()


def sign(secret: bytes, body: dict[str, Any], now: float) -> dict[str, Any]:
    """The message for `body` (a JSON object without `ts` and `nonce`):
    {"body": body + ts + nonce, "sig": hex HMAC-SHA256}."""
    stamped = {**body, "ts": now, "nonce": secrets.token_hex(16)}
    return {"body": stamped, "sig": digest(secret, stamped)}


@dataclass
class Verifier:
    """Checks messages for one receiver; remembers the nonces it accepted
    for FRESH_WINDOW_S (the memory is bounded by the window)."""

    secret: bytes  # the shared secret
    window_s: float = FRESH_WINDOW_S  # freshness window, s
    seen: dict = field(default_factory=dict)  # nonce -> its timestamp (wall s)

    def verify(self, message: object, now: float) -> dict[str, Any]:
        """The message's body if it is signed, fresh and new; else Refused."""
        if not isinstance(message, dict) or not isinstance(message.get("body"), dict):
            raise Refused("not a signed message")
        body, sig = message["body"], message.get("sig")
        if not isinstance(sig, str) or not hmac.compare_digest(sig, digest(self.secret, body)):
            raise Refused("bad signature")
        ts, nonce = body.get("ts"), body.get("nonce")
        if not isinstance(ts, int | float) or not isinstance(nonce, str) or not nonce:
            raise Refused("no timestamp or nonce")
        if abs(now - ts) > self.window_s:
            raise Refused(f"stale: its timestamp is {now - ts:+.0f} s from now (window {self.window_s:g} s)")
        self._forget(now)
        if nonce in self.seen:
            raise Refused("replayed: this nonce was already used")
        self.seen[nonce] = ts
        return body

    def _forget(self, now):
        for nonce in [n for n, ts in self.seen.items() if now - ts > self.window_s]:
            del self.seen[nonce]
