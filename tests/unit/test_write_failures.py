"""Result files when the disk fills: an error that says so, no half-written
file, and earlier files intact. The file-size limit (RLIMIT_FSIZE) makes
writes fail with EFBIG as a full disk would, without filling one."""

import json
import subprocess
import sys
import textwrap


def test_a_full_disk_leaves_earlier_results_intact_and_no_partial_file(tmp_path):
    earlier = tmp_path / "earlier.json"
    earlier.write_text(json.dumps({"kept": True}))
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        from pathlib import Path
        from bench.errors import RunFailed
        from bench.results.io import write_atomic
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get the error, not the signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            write_atomic(Path({str(tmp_path)!r}) / "big.json", {{"samples": list(range(100000))}})
        except RunFailed as exc:
            print(exc)
            sys.exit(7)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 7, proc.stderr
    assert "cannot write" in proc.stdout
    assert "big.json" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier.json"]
    assert json.loads(earlier.read_text()) == {"kept": True}
