"""`python -m bench broker`: the private broker, kept until Ctrl-C, for the
tutorial's worker run by hand, or for a fleet of agents (--listen)."""

import signal

from bench.harness import broker as broker_mod


def execute(request: tuple[str | None, str | None, int | None]) -> int:
    redis_server, listen, port = request
    with broker_mod.embedded(redis_server, listen=listen, port=port) as broker:
        # The user asked for this broker to connect to it by hand: its
        # throwaway password is printed here, and only here.
        where = f"127.0.0.1 and {listen}" if listen else "127.0.0.1, private to this session"
        print(f"# {broker.server} on {where} ({broker.redacted_url}); Ctrl-C stops it.")
        print(f"export CELERY_BROKER_URL='{broker.url}'")
        print(f"export CELERY_RESULT_BACKEND='{broker.result_backend('broker')}'")
        if listen:
            print('# agents: python -m bench agent --broker "$CELERY_BROKER_URL" --name NAME', flush=True)
        else:
            print("# then, in that shell: celery -A proj worker -l info", flush=True)
        signal.pause()
    return 0
