"""test.py as a module (its name clashes with pytest's conventions, so it is loaded by path once)."""
import importlib.util

from conftest import REPO

_spec = importlib.util.spec_from_file_location("test_cli", REPO / "test.py")
test_cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(test_cli)
