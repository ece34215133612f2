"""The C runtime (include/, src/) and the Python side that builds generated code and runs it."""

from pathlib import Path

RUNTIME_DIR = Path(__file__).resolve().parent
INCLUDE_DIR = RUNTIME_DIR / "include"
SRC_DIR = RUNTIME_DIR / "src"
