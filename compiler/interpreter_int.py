"""The reference semantics of quantized nodes: those whose attribute `q` holds integer parameters.

Every function here computes in integers only (int64 intermediates, results in the node's int8/int32 dtype) and
follows TFLite's int8 reference kernels bit for bit, through the helpers of `edgelower.quant`.
`edgelower.interpreter.evaluate_node` dispatches here when a node carries `q`.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from edgelower.ir import Op
from edgelower.quant import requantize

IntImpl = Callable[[list[np.ndarray], Mapping[str, Any]], list[np.ndarray]]


def _requantize(ins, attrs):
    q = attrs["q"]
    x = ins[0].astype(np.int64) + q.input_offset
    return [requantize(x, q.multiplier, q.shift, q.output_offset, q.act_min, q.act_max, q.axis)]


INTEGER_IMPLS: dict[Op, IntImpl] = {
    Op.REQUANTIZE: _requantize,
}
