"""The suite's own layout (tests/README.md): test modules import helpers,
never one another, and no two share a name (the folders are not packages:
pytest imports each module by its base name, and a second one of the same
name fails its collection)."""

import ast
import collections

from tests.helpers.paths import ROOT


def all_test_modules():
    return sorted((ROOT / "tests").rglob("test_*.py"))


def modules_imported(source):
    """The test modules and conftests `source` imports."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            names += [node.module or "", *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return sorted({n for n in names if n.split(".")[-1].startswith(("test_", "conftest"))})


def test_no_two_test_modules_share_a_name():
    names = collections.Counter(p.name for p in all_test_modules())
    assert len(names) > 50  # the suite is found
    assert [name for name, count in names.items() if count > 1] == []


def test_no_test_module_imports_another():
    found = {p.name: modules_imported(p.read_text()) for p in all_test_modules()}
    assert {name: modules for name, modules in found.items() if modules} == {}


def test_the_import_check_sees_one():
    source = "import json\nfrom tests.unit import test_fleet_agent\nfrom tests.helpers.cli import run_bench\n"
    assert modules_imported(source) == ["tests.unit.test_fleet_agent"]
    assert modules_imported("from tests.unit.test_plan import x\n") == ["tests.unit.test_plan"]
