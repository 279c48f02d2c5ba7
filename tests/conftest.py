import os

# One BLAS thread, set before NumPy loads: the tests run streams on worker threads, and on a
# 2-core machine a multi-threaded BLAS would take both cores (and serialize the streams).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def _has_cuda() -> bool:
    try:
        import umx

        return umx.cuda.is_available()
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _has_cuda():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (CuPy found none)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def pytest_terminal_summary(terminalreporter):
    """On a GPU machine: the ops whose CuPy kernel failed and that ran on the host instead
    (correct, but not on the GPU), so a GPU run's log says what is left to port."""
    import sys

    cuda_exec = sys.modules.get("umx.backends._cuda_exec")
    if cuda_exec is None:
        return
    fallbacks = cuda_exec.FALLBACKS
    terminalreporter.write_line(f"umx GPU ops that ran on the host: {len(fallbacks)}")
    for name, why in sorted(fallbacks.items()):
        terminalreporter.write_line(f"  {name}: {why[:160]}")
