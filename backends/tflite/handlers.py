"""Op -> TFLite handler: the compute ops (ops.py) and data movement (data_movement.py), one table."""

from edgelower.backends.tflite.data_movement import DATA_MOVEMENT
from edgelower.backends.tflite.ops import COMPUTE, absorbed_requantizes

HANDLERS = {**COMPUTE, **DATA_MOVEMENT}

__all__ = ["HANDLERS", "absorbed_requantizes"]
