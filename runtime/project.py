"""The build files of a saved project: the model as a static library, plus the harness from main.c, which runs
on the host or, for a Cortex-M target, on its QEMU machine through semihosting.

The weights come as `<prefix>_weights.S` + `<prefix>_weights.bin` (GNU toolchains: the assembler's `.incbin` links
the bytes) or as `<prefix>_weights.c` (any C99 compiler), whichever the compilation chose (`weights=`, CLI
`--weights`); either is one more model source. The `.S` is assembled with CFLAGS too: on Cortex-M its object must
carry the same ABI attributes (-mcpu, -mfloat-abi) as the C objects it links with."""

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


def _model_sources(files: list[str]) -> str:
    return " ".join(f for f in files if f.endswith((".c", ".S")) and f != HARNESS)


# Objects of C and assembler sources; the .S rule spelled out because make's built-in one passes ASFLAGS, not CFLAGS.
_OBJECTS = "OBJS = $(patsubst %.S,%.o,$(MODEL_SRCS:.c=.o)) $(RUNTIME_SRCS:.c=.o)"
_ASSEMBLE = ["%.o: %.S", "\t$(CC) $(CFLAGS) $(CPPFLAGS) -c -o $@ $<"]


def _assemble(files: list[str]) -> list[str]:
    """The .S rule, and each .S object's dependency on the .bin it includes (make cannot see an .incbin)."""
    binaries = [f"{f[:-2]}.o: {f[:-2]}.bin" for f in files if f.endswith(".S") and f"{f[:-2]}.bin" in files]
    return [*_ASSEMBLE[:2], *binaries, ""]


def project_makefile(files: list[str], prefix: str) -> str:
    model_sources = _model_sources(files)
    harness = f"{prefix}_run"
    lines = [
        f"# Builds lib{prefix}.a (model + runtime: drop it, or the sources, into a firmware build)",
        f"# and {harness}, a host program: ./{harness} in0.bin ... out0.bin ... (raw little-endian tensors).",
        f"# The weights: {prefix}_weights.S links {prefix}_weights.bin with .incbin (GNU as; found through -I.);",
        f"# compile with weights='c' (CLI --weights c) for {prefix}_weights.c, plain C99, instead.",
        "CC ?= cc",
        "CFLAGS ?= -std=c99 -O2 -Wall -Wextra -Werror",
        "CPPFLAGS += -Iruntime/include -I.",
        f"MODEL_SRCS = {model_sources}",
        "RUNTIME_SRCS = $(wildcard runtime/src/*.c)",
        _OBJECTS,
        "",
        f"all: lib{prefix}.a {harness}",
        "",
        *_assemble(files),
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
    model_sources = _model_sources(files)
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
        f"# The weights: {prefix}_weights.S links {prefix}_weights.bin with .incbin (the assembler finds it through",
        f"# -I.); compile with weights='c' (CLI --weights c) for {prefix}_weights.c, plain C99.",
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
        _OBJECTS,
        "empty :=",
        "space := $(empty) $(empty)",
        "comma := ,",
        f"SEMIHOSTING_ARGS = $(subst $(space),$(comma),$(patsubst %,arg=%,{prefix} $(IN) $(OUT)))",
        "",
        f"all: {lib}",
        "",
        *_assemble(files),
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
