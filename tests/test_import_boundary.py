"""The core imports no framework: `sweeper.rules` and `sweeper.logs` are pure Python.

Checked in a fresh interpreter, so modules imported by other tests cannot hide a leak.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

FRAMEWORKS = ("ray", "optuna", "torch", "transformers", "peft")


@pytest.mark.parametrize("module", ["sweeper.rules", "sweeper.logs", "sweeper.rules.synthetic", "sweeper.cli.diagnose"])
def test_core_pulls_in_no_framework(module):
    code = (
        f"import sys, importlib\n"
        f"importlib.import_module({module!r})\n"
        f"roots = {{name.split('.')[0] for name in sys.modules}}\n"
        f"print(','.join(sorted(roots & set({FRAMEWORKS!r}))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"{module} imports {result.stdout.strip()}"


def test_reading_a_log_and_judging_it_pulls_in_no_framework(tmp_path):
    log = tmp_path / "run.csv"
    log.write_text("step,epoch,loss\n" + "".join(f"{i},{i / 50},{2 - i / 100}\n" for i in range(1, 120)))
    code = (
        "import sys\n"
        "from sweeper.logs import read_log\n"
        "from sweeper.rules import diagnose\n"
        f"diagnose(read_log({str(log)!r}).points)\n"
        f"print(','.join(sorted({{n.split('.')[0] for n in sys.modules}} & set({FRAMEWORKS!r} + ('numpy', 'pandas', 'pyarrow', 'matplotlib')))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
