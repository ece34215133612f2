"""Op -> TFLite handler: the compute ops (ops.py) and data movement (data_movement.py), one table."""

from edgelower.backends.tflite.data_movement import DATA_MOVEMENT
from edgelower.backends.tflite.ops import COMPUTE, absorbed_requantizes
from edgelower.backends.tflite.reductions import REDUCTIONS

HANDLERS = {**COMPUTE, **DATA_MOVEMENT, **REDUCTIONS}

__all__ = ["HANDLERS", "absorbed_requantizes"]
