"""Fixtures and hooks for the tests in this folder: each starts real
workers, brokers or tools (tox, git, bash) through `python -m bench` as a
user would (tests.helpers.cli), and takes seconds to minutes. Fixtures
several of its files share go here; tests/conftest.py has the ones of
every test (the machine's sharing, the leak check)."""

from pathlib import Path

import pytest

from tests.helpers.fleet import running_fleet

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before tests/conftest.py orders the tests by this mark
def pytest_collection_modifyitems(config, items):
    """Every test in this folder is marked `integration`, whether its module
    says so or not: the mark orders the suite and tells what starts workers."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def fleet(request, tmp_path_factory, machine_lock):
    """A fleet of the module's own (tests/helpers/fleet.py): the fleet's
    modules each have one, and run side by side; made holding the machine
    alone for a module whose tests run alone."""
    alone = request.node.get_closest_marker("exclusive") is not None
    with running_fleet(tmp_path_factory.mktemp("fleet"), machine_lock, alone) as made:
        yield made
