"""Identifiers from a model (module paths, parameter names) made safe for C and for the IR printer."""

import keyword
import re

_C_RESERVED = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
    "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "main",
}


def sanitize(name: str) -> str:
    """Map any string to [A-Za-z_][A-Za-z0-9_]*, never a C or Python keyword; '' becomes 'v'."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", str(name)).strip("_") or "v"
    name = re.sub(r"_+", "_", name)
    if name[0].isdigit():
        name = "v" + name
    if name in _C_RESERVED or keyword.iskeyword(name) or name.startswith("__"):
        name = "v_" + name
    return name
