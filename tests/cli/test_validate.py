"""`sweeper validate` runs every pre-flight check and stays light: no Ray, no torch."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_validate_counts_tokens_without_ray_or_torch():
    code = (
        "import sys\n"
        "from sweeper.cli import main\n"
        "assert main(['validate', 'sweeps/explain.yaml']) == 0\n"
        "print('imported:' + ','.join(sorted({m.split('.')[0] for m in sys.modules} & {'ray', 'torch', 'optuna', 'peft'})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    *summary, imported = result.stdout.strip().splitlines()
    assert imported == "imported:", f"validate {imported}"
    text = "\n".join(summary)
    assert "sweeps/explain.yaml: ok" in text and "600 train, 120 eval" in text
    assert "cutoff_len 64, label then explanation: none of 720 samples is longer" in text
