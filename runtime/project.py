"""The Makefile of a saved project: the model as a static library, plus the host harness from main.c."""

from __future__ import annotations


def project_makefile(files: list[str], prefix: str) -> str:
    model_sources = " ".join(f for f in files if f.endswith(".c") and f != "main.c")
    harness = f"{prefix}_run"
    lines = [
        f"# Builds lib{prefix}.a (model + runtime: drop it, or the sources, into a firmware build)",
        f"# and {harness}, a host program: ./{harness} in0.bin ... out0.bin ... (raw little-endian tensors).",
        "CC ?= cc",
        "CFLAGS ?= -std=c99 -O2 -Wall -Wextra -Werror",
        "CPPFLAGS += -Iruntime/include -I.",
        f"MODEL_SRCS = {model_sources}",
        "RUNTIME_SRCS = $(wildcard runtime/src/*.c)",
        "OBJS = $(MODEL_SRCS:.c=.o) $(RUNTIME_SRCS:.c=.o)",
        "",
        f"all: lib{prefix}.a {harness}",
        "",
        f"lib{prefix}.a: $(OBJS)",
        "\t$(AR) rcs $@ $^",
        "",
        f"{harness}: main.c lib{prefix}.a",
        f"\t$(CC) $(CFLAGS) $(CPPFLAGS) -o $@ main.c lib{prefix}.a -lm",
        "",
        "clean:",
        f"\trm -f $(OBJS) lib{prefix}.a {harness}",
        "",
        ".PHONY: all clean",
    ]
    return "\n".join(lines) + "\n"
