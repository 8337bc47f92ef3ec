"""Views: widgets with ``set_*`` methods and Qt signals.

They know neither the worker nor the session (tests/test_architecture.py).
"""
