"""The shape of bench/: imports flow one way between the stage packages, the
pure analysis never loads plotting or Celery, and the read-only paths and
commands never load Celery."""

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
DATA = ROOT / "tests" / "data"

# The stages, lowest first: a package may import itself and the packages of
# lower ranks only. analysis and harness share a rank: neither imports the
# other. output sits right above them: it renders typed results and their
# analysis and calls no stage that measures or orchestrates (measure, fleet,
# sweep, ab); the pipelines that read, measure and then render are in
# commands. "base" is bench/__init__.py, workloads.py and errors.py; "cli"
# is the bench.cli package and __main__.py.
LAYERS = (
    ("base",),
    ("results",),
    ("analysis", "harness"),
    ("output",),
    ("measure",),
    ("fleet",),
    ("sweep",),
    ("ab",),
    ("commands",),
    ("cli",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
BASE_MODULES = {"__init__", "workloads", "errors"}
CLI_MODULES = {"cli", "__main__"}

# Known imports against the direction, each to be removed by the change that
# fixes it (none left: compare is split into reading in results, deciding in
# analysis and formatting in output).
KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def every_module():
    return sorted(module_name(p) for p in BENCH.rglob("*.py"))


def layer(name):
    """The stage of module or package `name` (bench.x.y)."""
    parts = name.split(".")
    if len(parts) == 1 or parts[1] in BASE_MODULES:
        return "base"
    if parts[1] in CLI_MODULES:
        return "cli"
    return parts[1]


def bench_imports(path):
    """Every bench.* module that `path` imports, at any depth (an import
    inside a function is a dependency too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            # `from bench.x import y`: y may be a module of bench.x
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    modules = set(every_module())
    return {name for name in found if name.split(".")[0] == "bench" and (name in modules or name == "bench")}


def test_every_package_has_a_place_in_the_order():
    unplaced = {layer(name) for name in every_module()} - set(RANK)
    assert not unplaced, f"add {unplaced} to LAYERS"


def test_imports_flow_one_way():
    wrong = []
    for path in sorted(BENCH.rglob("*.py")):
        importer = module_name(path)
        for imported in bench_imports(path):
            own, other = layer(importer), layer(imported)
            if other != own and RANK[other] >= RANK[own] and (importer, imported) not in KNOWN_EXCEPTIONS:
                wrong.append(f"{importer} ({own}) imports {imported} ({other})")
    assert not wrong, "\n".join(wrong)


def test_output_renders_only():
    """output imports no stage that measures or orchestrates."""
    assert RANK["output"] < min(RANK[name] for name in ("measure", "fleet", "sweep", "ab"))


def private_imports(path):
    """(module, name) of every `from bench.x import _name` in `path`."""
    return [
        (node.module, alias.name)
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.startswith("bench")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]


def test_no_private_name_is_imported_across_packages():
    """A name with a leading underscore is its package's own: another
    package that needs it needs it public."""
    wrong = [
        f"{module_name(path)} imports {name} from {module}"
        for path in sorted(BENCH.rglob("*.py"))
        for module, name in private_imports(path)
        if layer(module) != layer(module_name(path))
    ]
    assert not wrong, "\n".join(wrong)


def test_the_private_name_check_sees_one(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from bench.measure.runner import _limits, public\n")
    assert private_imports(module) == [("bench.measure.runner", "_limits")]


def test_the_order_check_sees_a_wrong_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from bench.sweep import store\n")
    assert "bench.sweep.store" in bench_imports(module)
    assert RANK[layer("bench.sweep.store")] > RANK[layer("bench.analysis.stats")]


def imported_after(code):
    """The names in sys.modules after running `code` in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.splitlines()[-1]))


def packages(modules):
    return {name.split(".")[0] for name in modules}


def test_the_analysis_loads_neither_plotting_nor_celery():
    analysis = [name for name in every_module() if layer(name) == "analysis"]
    assert "bench.analysis.stats" in analysis
    loaded = imported_after("\n".join(f"import {name}" for name in analysis))
    assert set(analysis) <= loaded
    assert not packages(loaded) & {"matplotlib", "celery", "kombu"}


READ_ONLY = (
    "bench.results.sweepdir",
    "bench.sweep.store",
    "bench.output.export",
    "bench.cli",
    "bench.commands.report",
    "bench.commands.plot",
    "bench.commands.compare",
    "bench.commands.export",
    "bench.output.exports",
    "bench.commands.history",
)


def test_read_only_paths_do_not_load_celery():
    loaded = imported_after("\n".join(f"import {module}" for module in READ_ONLY))
    assert set(READ_ONLY) <= loaded
    assert not packages(loaded) & {"celery", "kombu", "billiard"}


def run_doc(throughput):
    """A minimal version-1 run result of one point."""
    return {
        "schema_version": 1,
        "kind": "run",
        "status": {"state": "ok", "reason": None},
        "config": {"pool": "solo", "concurrency": 1, "workload": "sleep", "task_ms": 50.0, "cores": 2.0},
        "summary": {"throughput_per_s": throughput},
        "metadata": {"hostname": "vm", "usable_cores": 2.0},
    }


@pytest.mark.parametrize(
    "command", ["report", "compare", "export", "history"]
)  # report draws every figure `plot` draws
def test_read_only_commands_never_import_celery(tmp_path, command):
    """The subcommand's module is imported only when it is chosen: the
    read-only commands run to the end without loading Celery or kombu."""
    sweep = tmp_path / "sweep-small"
    shutil.copytree(DATA / "sweep-small", sweep)
    (tmp_path / "a.json").write_text(json.dumps(run_doc(19.0)))
    (tmp_path / "b.json").write_text(json.dumps(run_doc(19.1)))
    (tmp_path / "c.json").write_text(json.dumps(run_doc(19.2)))
    argv = {
        "report": ["report", str(sweep)],
        "compare": ["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")],
        "export": ["export", "bmf", str(sweep), "-o", str(tmp_path / "bmf.json")],
        "history": ["history", *(str(tmp_path / f"{n}.json") for n in "abc"), "--html", str(tmp_path / "h.html")],
    }[command]
    loaded = imported_after(
        f"from bench.cli import main\nimport contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main({argv!r}) == 0"
    )
    assert {name for name in loaded if name.startswith("bench.commands.")} == {f"bench.commands.{command}"}
    assert not packages(loaded) & {"celery", "kombu", "billiard"}


def imports_inside_functions(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        f"{path.relative_to(ROOT)}:{inner.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(node)
        if isinstance(inner, ast.Import | ast.ImportFrom)
    ]


def test_the_cli_commands_and_measure_import_at_the_top_only():
    """The only import made at run time there is the dispatch's
    importlib.import_module of the chosen subcommand (bench/cli/main.py)."""
    paths = [*sorted((BENCH / "cli").glob("*.py")), *sorted((BENCH / "commands").glob("*.py"))]
    paths += sorted((BENCH / "measure").glob("*.py"))
    inline = [where for path in paths for where in imports_inside_functions(path)]
    assert not inline, inline


def test_the_command_line_starts_without_scipy_stats_or_matplotlib():
    # Every `python -m bench ...` (the suite starts hundreds) paid half a second for scipy.stats when
    # analysis/memory.py imported it at the top, and every run a quarter for matplotlib (a soak's figure,
    # bench/output/plot_series.py): the modules that need them import them where they do.
    loaded = imported_after("import bench.cli.main, bench.commands.run")
    assert "bench.analysis.memory" in loaded
    assert not {"scipy.stats", "matplotlib"} & loaded
