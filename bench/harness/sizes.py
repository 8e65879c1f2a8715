"""Memory sizes as people write them (512MiB, 2GiB, 1.5GB, 800M), for
--memory-budget, --memory-limit and `--vary memory_limit=...`: parsed in one
place. Decimal units unless the i says binary."""

import re

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2}
_UNITS |= {"g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4, "tb": 1000**4, "tib": 1024**4}


def parse_size(text: str) -> int:
    """Bytes of a size above 0; ValueError (a one-line message) otherwise."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS or float(match.group(1)) <= 0:
        raise ValueError(f"expected a size such as 512MiB or 2GiB, got {text!r}")
    return int(float(match.group(1)) * _UNITS[unit])


def parse_kib(text: str) -> int:
    """KiB of a size (Celery's unit for --max-memory-per-child), rounded to
    the nearest, at least 1; "0", "none" and "off": 0 (no limit); ValueError
    (a one-line message) otherwise."""
    if text.strip().lower() in ("0", "none", "off"):
        return 0
    kib = (parse_size(text) + 512) // 1024  # half a KiB up
    if kib < 1:
        raise ValueError(f"expected a size of at least 1KiB, such as 200MiB, or 0 (no limit), got {text!r}")
    return kib


def size_words(n: int) -> str:
    """Bytes as people read them: "512 MiB", "1.5 GiB", "24.93 TiB", "300 B"."""
    for unit, scale in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            value = n / scale
            return f"{value:,.0f} {unit}" if value >= 1000 else f"{value:.4g} {unit}"
    return f"{n} B"
