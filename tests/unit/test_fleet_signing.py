"""Signed commands: a bad signature, a stale timestamp and a replay are refused."""

import pytest

from bench.fleet.signing import FRESH_WINDOW_S, Refused, Verifier, canonical, check_secret, sign

SECRET = b"a-shared-secret-of-some-length"


def test_a_signed_message_is_accepted_once_and_its_body_returned():
    message = sign(SECRET, {"op": "probe", "to": "a"}, now=1000.0)
    body = Verifier(SECRET).verify(message, now=1000.5)
    assert body["op"] == "probe"
    assert body["to"] == "a"


def test_a_changed_body_fails_the_signature():
    message = sign(SECRET, {"op": "start", "app": "proj"}, now=1000.0)
    message["body"]["app"] = "evil"
    with pytest.raises(Refused, match="bad signature"):
        Verifier(SECRET).verify(message, now=1000.0)


def test_another_secret_fails_the_signature():
    message = sign(b"another-secret-entirely-here", {"op": "probe"}, now=1000.0)
    with pytest.raises(Refused, match="bad signature"):
        Verifier(SECRET).verify(message, now=1000.0)


def test_an_unsigned_or_malformed_message_is_refused():
    verifier = Verifier(SECRET)
    for message in (None, {}, {"body": "x"}, {"body": {"op": "probe"}}):
        with pytest.raises(Refused):
            verifier.verify(message, now=0.0)


def test_a_stale_timestamp_is_refused_on_either_side_of_the_window():
    verifier = Verifier(SECRET)
    with pytest.raises(Refused, match="stale"):
        verifier.verify(sign(SECRET, {"op": "probe"}, now=1000.0), now=1000.0 + FRESH_WINDOW_S + 1)
    with pytest.raises(Refused, match="stale"):
        verifier.verify(sign(SECRET, {"op": "probe"}, now=1000.0 + FRESH_WINDOW_S + 1), now=1000.0)


def test_a_replayed_message_is_refused():
    verifier = Verifier(SECRET)
    message = sign(SECRET, {"op": "stop"}, now=1000.0)
    verifier.verify(message, now=1000.0)
    with pytest.raises(Refused, match="replayed"):
        verifier.verify(message, now=1001.0)


def test_nonces_are_forgotten_after_the_window_and_the_message_is_then_stale():
    verifier = Verifier(SECRET)
    verifier.verify(sign(SECRET, {"op": "probe"}, now=1000.0), now=1000.0)
    verifier.verify(sign(SECRET, {"op": "probe"}, now=1000.0 + 2 * FRESH_WINDOW_S), now=1000.0 + 2 * FRESH_WINDOW_S)
    assert len(verifier.seen) == 1


def test_the_canonical_form_does_not_depend_on_key_order():
    assert canonical({"b": 1, "a": [1, 2]}) == canonical({"a": [1, 2], "b": 1})


def test_a_missing_or_short_secret_is_refused_with_a_reason():
    assert check_secret(None)[1] is not None
    assert check_secret("short")[1] is not None
    assert check_secret("x" * 32) == (b"x" * 32, None)
