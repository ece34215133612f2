"""The build files of a saved project: the model as a static library, plus the harness from main.c, which runs
on the host or, for a Cortex-M target, on its QEMU machine through semihosting."""

from __future__ import annotations

from edgelower.targets import Target

HARNESS = "main.c"


def project_files(target: Target, files: list[str], prefix: str) -> dict[str, str]:
    """{relative path: text} written beside the model sources and the runtime."""
    if target.settings.runner != "qemu":
        return {"Makefile": project_makefile(files, prefix)}
    from edgelower.runtime.cortex_m import support_files

    # probe.c only serves edgelower's own measurements; a firmware project needs the rest.
    firmware = {name: text for name, text in support_files(target).items() if name != "firmware/probe.c"}
    return {"Makefile": firmware_makefile(target, files, prefix), **firmware}


def project_makefile(files: list[str], prefix: str) -> str:
    model_sources = " ".join(f for f in files if f.endswith(".c") and f != HARNESS)
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


def firmware_makefile(target: Target, files: list[str], prefix: str) -> str:
    model_sources = " ".join(f for f in files if f.endswith(".c") and f != HARNESS)
    machine, lib = target.settings.machine, f"lib{prefix}.a"
    cross = target.settings.cc[: -len("gcc")]
    lines = [
        f"# {target.name}: {target.description}.",
        f"#   make       {lib}: the model and the runtime for your firmware; call {prefix}_invoke() ({prefix}.h)",
        f"#   make size  {prefix}_size.elf: the model alone in a bare image (firmware/startup.c, deploy.c) for",
        "#              QEMU's memory map (firmware/link.ld); prints flash (text + data) and static RAM (data + bss)",
        f"#   make run IN='in0.bin ...' OUT='out0.bin ...': the main.c harness on QEMU {machine.name}; inputs and",
        "#              outputs are raw little-endian tensor files, read and written through semihosting",
        "# On a board, use its own startup file and linker script with the library (or with the sources).",
        "# Needs the Debian packages gcc-arm-none-eabi libnewlib-arm-none-eabi (and qemu-system-arm for `run`).",
        f"CC = {target.settings.cc}",
        f"AR = {cross}ar",
        f"SIZE = {cross}size",
        "QEMU = qemu-system-arm",
        f"CFLAGS = {' '.join(target.settings.cflags)}",
        "CPPFLAGS = -Iruntime/include -I.",
        "LDFLAGS = -T firmware/link.ld -Wl,--gc-sections",
        f"MODEL_SRCS = {model_sources}",
        "RUNTIME_SRCS = $(wildcard runtime/src/*.c)",
        "OBJS = $(MODEL_SRCS:.c=.o) $(RUNTIME_SRCS:.c=.o)",
        "empty :=",
        "space := $(empty) $(empty)",
        "comma := ,",
        f"SEMIHOSTING_ARGS = $(subst $(space),$(comma),$(patsubst %,arg=%,{prefix} $(IN) $(OUT)))",
        "",
        f"all: {lib}",
        "",
        f"{lib}: $(OBJS)",
        "\t$(AR) rcs $@ $^",
        "",
        f"{prefix}_size.elf: firmware/startup.c firmware/deploy.c {lib}",
        f"\t$(CC) $(CFLAGS) $(CPPFLAGS) -DEL_PREFIX={prefix} $(LDFLAGS) --specs=nano.specs --specs=nosys.specs "
        f"-nostartfiles -o $@ firmware/startup.c firmware/deploy.c {lib} -lm",
        "",
        f"{prefix}_qemu.elf: main.c firmware/startup.c firmware/semihosting.c {lib}",
        f"\t$(CC) $(CFLAGS) $(CPPFLAGS) -DEL_SEMIHOSTING $(LDFLAGS) --specs=rdimon.specs -Wl,--wrap=main -o $@ "
        f"main.c firmware/startup.c firmware/semihosting.c {lib} -lm",
        "",
        f"size: {prefix}_size.elf",
        "\t$(SIZE) $<",
        "",
        f"run: {prefix}_qemu.elf",
        f"\t$(QEMU) -M {machine.name} -cpu {machine.cpu} -nographic -monitor none "
        "-semihosting-config enable=on,target=native,$(SEMIHOSTING_ARGS) -kernel $< < /dev/null",
        "",
        "clean:",
        f"\trm -f $(OBJS) {lib} {prefix}_size.elf {prefix}_qemu.elf",
        "",
        ".PHONY: all size run clean",
    ]
    return "\n".join(lines) + "\n"
