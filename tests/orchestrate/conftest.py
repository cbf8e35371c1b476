import shutil
import tempfile
from pathlib import Path

import pytest

from ray_cluster import LocalCluster


@pytest.fixture
def ray_cluster(tmp_path):
    """A head (1 CPU) and a worker node (1 CPU, resource `workernode`) on loopback, token auth on.
    Ray's temp dir is a short folder of its own under /tmp, not under tmp_path: Ray's Unix socket
    paths inside it must stay under 107 bytes."""
    root = Path(tempfile.mkdtemp(prefix="rc-"))
    cluster = LocalCluster(root, logs=tmp_path).start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
