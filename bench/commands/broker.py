"""`python -m bench broker`: the private broker, kept until Ctrl-C, for the
tutorial's worker run by hand."""

import signal

from bench.harness import broker as broker_mod


def execute(redis_server):
    with broker_mod.embedded(redis_server) as broker:
        # The user asked for this broker to connect to it by hand: its
        # throwaway password is printed here, and only here.
        print(f"# {broker.server} on 127.0.0.1, private to this session; Ctrl-C stops it.")
        print(f"export CELERY_BROKER_URL='{broker.url}'")
        print(f"export CELERY_RESULT_BACKEND='{broker.result_backend('broker')}'")
        print("# then, in that shell: celery -A proj worker -l info", flush=True)
        signal.pause()
    return 0
