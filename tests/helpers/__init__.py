"""What the tests share, written once (issue 22): test modules import these
and never one another; fixtures live in the conftest.py of their folder.

- paths: ROOT (the checkout) and DATA (tests/data)
- cli: run_bench and start_bench, `python -m bench` as a user runs it
- waiting: wait_for, a bounded wait for a condition
- golden: check_golden, output against tests/data/golden
- hand_made_run: a run's result built from hand-made records, clock and machine fixed
- processes: the tag every process a test starts carries, and finding them by it
- machine: how the suite's xdist workers share the machine (tests/conftest.py uses it)
- fleet: simulated hosts (network namespaces, a broker, agents) for the fleet's tests
"""
