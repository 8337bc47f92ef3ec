"""Test configuration shared by all tests.

GUI tests run offscreen: set before any Qt module can be imported.
"""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "2")

# Property-based tests run the same examples on every run (a red CI must be
# reproducible); NMFVIEWER_FUZZ_RANDOM=1 explores new ones, as a fuzzing session would.
try:
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # the test extra brings it; without it those tests are skipped
    pass
else:
    _hypothesis_settings.register_profile(
        "nmfviewer", derandomize=not os.environ.get("NMFVIEWER_FUZZ_RANDOM"), database=None
    )
    _hypothesis_settings.load_profile("nmfviewer")
