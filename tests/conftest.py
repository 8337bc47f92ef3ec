"""Test configuration shared by all tests.

GUI tests run offscreen: set before any Qt module can be imported.
"""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "2")
