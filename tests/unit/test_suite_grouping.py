"""The suite's spread over pytest-xdist workers: a folder's tests share one worker.

tests/conftest.py marks each integration and e2e folder's tests with one ``xdist_group``, and
``make test`` runs ``--dist loadgroup``, so a folder's session stack (emulator, service
processes) starts once and a module's fixtures are set up once. Two things broke that
silently, each spreading every test to any worker (each worker then started every folder's
stack, and a module fixture ran again whenever its tests were split): the hook marking the
groups ran after pytest-xdist's, which had already read them, and pytest 9.2's node ids drop
the group pytest-xdist 3.8 appends (pytest-dev/pytest-xdist#1386). This runs a small suite
laid out like ours through the suite's own hook, with the pytest and pytest-xdist installed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

SUITE_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

CONFTEST = f'''
import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location("suite_conftest", {str(SUITE_CONFTEST)!r})
suite = importlib.util.module_from_spec(spec)
spec.loader.exec_module(suite)
suite.TESTS = Path(__file__).resolve().parent  # this directory stands for tests/
pytest_collection_modifyitems = suite.pytest_collection_modifyitems
'''

MODULE = '''
import pytest

SETUPS = []

@pytest.fixture(scope="module")
def stack():
    SETUPS.append(1)
    return SETUPS

{tests}
'''


def test_a_folders_tests_run_on_one_worker_and_set_a_module_fixture_up_once(
        pytester: pytest.Pytester) -> None:
    tests = "\n".join(f"def test_{n}(stack):\n    assert len(stack) == 1\n" for n in range(6))
    for folder in ("integration/one", "integration/two", "unit/free"):
        (pytester.path / folder).mkdir(parents=True)
        for module in ("a", "b"):  # module names unique across folders (rootdir imports)
            name = f"test_{folder.replace('/', '_')}_{module}.py"
            (pytester.path / folder / name).write_text(MODULE.format(tests=tests))
    pytester.makeconftest(CONFTEST)

    result = pytester.runpytest_subprocess("-n", "3", "--dist", "loadgroup", "-v",
                                           "-p", "no:cacheprovider")

    result.assert_outcomes(passed=36)
    workers: dict[str, set[str]] = defaultdict(set)
    for worker, folder in re.findall(r"\[(gw\d+)\] \[[ \d%]+\] PASSED (\w+/\w+)/",
                                     result.stdout.str()):
        workers[folder].add(worker)
    assert len(workers["integration/one"]) == 1, workers
    assert len(workers["integration/two"]) == 1, workers
