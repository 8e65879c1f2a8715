"""The result document of one run: built, written atomically, read back.

JSON format history (SCHEMA_VERSION):
  1 - first version: config, summary, samples, metadata, status.
"""

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from bench.errors import RunFailed, UsageError

SCHEMA_VERSION = 1
SAMPLE_DIGITS = 6  # microseconds: finer than any clock the tasks read


def latency_fields(latency):
    """Flat keys with their unit: wait_p50_s, service_p99_s, sojourn_max_s..."""
    out = {}
    for kind, dist in (("wait", latency.wait_s), ("service", latency.service_s), ("sojourn", latency.sojourn_s)):
        for stat, value in asdict(dist).items():
            out[f"{kind}_{stat}_s"] = value
    return out


def compact_samples(published, records):
    """The raw per-task records as columns, times in seconds from the first
    publish of the batch; tasks that never reported are listed by id."""
    t0 = min(published.values()) if published else 0.0
    seen = {r.id for r in records}

    def rel(t):
        return round(t - t0, SAMPLE_DIGITS)

    memory = {}
    if any(r.rss_bytes is not None for r in records):  # recorded by `profile` only
        memory["rss_bytes"] = [r.rss_bytes for r in records]
    return {
        **memory,
        "time_origin": "first publish of the measured batch",
        "published_s": [rel(r.published) for r in records],
        "started_s": [rel(r.started) for r in records],
        "finished_s": [rel(r.finished) for r in records],
        "pid": [r.pid for r in records],
        "state": [r.state for r in records],
        # CPU seconds of the task's own thread; null where the pool does
        # not make it attributable (see summary.task_cpu)
        "cpu_s": [None if r.cpu_s is None else round(r.cpu_s, SAMPLE_DIGITS) for r in records],
        "errors": [{"id": r.id, "error": r.error} for r in records if r.error][:100],
        "missing_ids": sorted(set(published) - seen)[:100],
    }


def write_atomic(path, document):
    """Write JSON to a temporary file beside `path`, then rename it into
    place: a reader never sees half a file, an interruption leaves none."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"cannot write results to {path.parent}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(document, fh, indent=1, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
    except OSError as exc:  # the disk filled, a quota, an I/O error
        Path(tmp).unlink(missing_ok=True)
        raise RunFailed(f"cannot write {path}: {exc.strerror or exc}; files written before are intact") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_writable(directory):
    """Fail now, before anything is measured, if results cannot be written
    into `directory` (created if missing)."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write results to {directory}: {exc.strerror or exc}") from None


def read_json(path, kind, what):
    """A JSON document of this harness with `kind` (e.g. "sweep"), checked
    for its schema_version; UsageError naming the file when it is not one.
    `what` names the document in messages ("sweep manifest")."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("kind") != kind:
        raise UsageError(f"{path}: not a celery-bench {what}")
    if document.get("schema_version", 0) > SCHEMA_VERSION:
        raise UsageError(f"{path}: schema_version {document['schema_version']} is newer than this celery-bench reads")
    return document


def load(path):
    """Read a result document; UsageError naming the file if it is not one."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(document, dict) or "schema_version" not in document:
        raise UsageError(f"{path}: not a celery-bench result (no schema_version)")
    version = document["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise UsageError(
            f"{path}: schema_version {version!r} is newer than this celery-bench reads ({SCHEMA_VERSION}); upgrade it"
        )
    if version < 1:
        raise UsageError(f"{path}: unknown schema_version {version!r}")
    for key in ("config", "summary", "metadata"):
        if key not in document:
            raise UsageError(f"{path}: missing {key!r}")
    return document
