from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEMO_DATA = REPO / "data" / "explain-demo"


@pytest.fixture
def shared_dir() -> Path:
    if not (SHARED / "fixtures" / "real-logs").is_dir():
        pytest.skip(f"{SHARED}/fixtures/real-logs not found: the shared folder sits beside the checkout in CI")
    return SHARED


@pytest.fixture
def demo_data() -> Path:
    return DEMO_DATA
