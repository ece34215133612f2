"""Backends: one sub-package each with its declaration (`edgelower.backends.protocol.Backend`), and BACKENDS, the
registry the driver and the targets table use. Heavy dependencies (a compiler toolchain's Python package) are
imported inside a backend's emit and load, never here."""

from edgelower.backends.c import C_BACKEND
from edgelower.backends.hls import HLS_BACKEND
from edgelower.backends.mlir import MLIR_BACKEND
from edgelower.backends.protocol import Backend
from edgelower.backends.tvm import TVM_BACKEND

# One explicit entry per backend, in the order `edgelower targets` lists them.
BACKENDS: dict[str, Backend] = {
    "c": C_BACKEND,
    "hls": HLS_BACKEND,
    "mlir": MLIR_BACKEND,
    "tvm": TVM_BACKEND,
}
