"""Command-line tools (python tools/<name>.py); importable so that tests can call their logic."""
