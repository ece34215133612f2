"""Converters for the layer-shaped ATen ops: convolution, matrix products, pooling, normalization, softmax,
upsampling, embedding and scaled dot-product attention. Merged into `edgelower.frontend.aten_ops.ATEN_TO_IR`."""

from __future__ import annotations

import math

import numpy as np

from edgelower.ir.graph import DType, Op
from edgelower.frontend import aten_layers
from edgelower.frontend.lowering import Lowering, Unlowerable

_FLT_MAX = float(np.finfo(np.float32).max)


def _pair(value) -> tuple[int, int]:
    """torch's int-or-list hyper-parameters (kernel, stride, padding) as two ints."""
    if isinstance(value, int):
        return value, value
    value = tuple(int(v) for v in value)
    return (value[0], value[0]) if len(value) == 1 else value


def _convolution(cx: Lowering, x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    """convolution.default -> CONV2D; transposed, a CONV2D of the zero-stuffed input (aten_layers.transposed). A 1-d
    convolution runs as a 2-d one over a height of 1; an unbatched input gains a batch of one."""
    if len(stride) not in (1, 2):
        raise Unlowerable(f"{len(stride)}-d convolution")
    if cx.rank(x) == len(stride) + 1:
        y = _convolution(cx, cx.reshape(x, (1,) + cx.shape(x)), weight, bias, stride, padding, dilation,
                         transposed, output_padding, groups)
        return cx.reshape(y, cx.shape(y)[1:])
    if len(stride) == 1:
        n, c, length = cx.shape(x)
        w = cx.reshape(weight, cx.shape(weight)[:2] + (1, cx.shape(weight)[2]))
        y = _convolution(cx, cx.reshape(x, (n, c, 1, length)), w, bias, (1, stride[0]), (0, padding[0]),
                         (1, dilation[0]), transposed, (0, output_padding[0]), groups)
        return cx.reshape(y, cx.shape(y)[:2] + (cx.shape(y)[3],))
    if transposed:
        return aten_layers.transposed(cx, x, weight, bias, stride, padding, dilation, output_padding, groups)
    ph, pw = _pair(padding)
    inputs = [x, weight] if bias is None else [x, weight, bias]
    return cx.op(Op.CONV2D, inputs, stride=_pair(stride), padding=(ph, pw, ph, pw), dilation=_pair(dilation),
                 groups=int(groups))


def _conv2d(cx: Lowering, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """conv2d.default, as graphs not decomposed to core ATen still have it."""
    return _convolution(cx, x, weight, bias, _pair(stride), _pair(padding), _pair(dilation), False, (0, 0), groups)


def _transposed_weight(cx: Lowering, value: str) -> str | None:
    """W when `value` is PERMUTE(W, (1, 0)) of a constant W: how core ATen spells nn.Linear's `x @ W.T`."""
    node = cx.producer(value)
    if node is not None and node.op is Op.PERMUTE and tuple(node.attrs["perm"]) == (1, 0) \
            and cx.data(node.inputs[0]) is not None:
        return node.inputs[0]
    return None


def _mm(cx: Lowering, a, b):
    """mm -> LINEAR when b is a transposed [out, in] weight (the dead PERMUTE is pruned), else MATMUL."""
    weight = _transposed_weight(cx, b)
    return cx.op(Op.MATMUL, [a, b]) if weight is None else cx.op(Op.LINEAR, [a, weight])


def _addmm(cx: Lowering, bias, a, b, beta=1, alpha=1):
    """addmm = beta * bias + alpha * (a @ b); the usual nn.Linear form becomes one LINEAR with its bias."""
    weight = _transposed_weight(cx, b)
    if weight is not None and alpha == 1 and beta == 1 and cx.shape(bias) == cx.shape(weight)[:1]:
        return cx.op(Op.LINEAR, [a, weight, bias])
    y = _mm(cx, a, b)
    if alpha != 1:
        y = cx.op(Op.MUL, [y, cx.scalar(alpha)])
    if beta == 0:
        return y
    if beta != 1:
        bias = cx.op(Op.MUL, [bias, cx.scalar(beta)])
    return cx.op(Op.ADD, [y, bias])


def _linear(cx: Lowering, x, weight, bias=None):
    return cx.op(Op.LINEAR, [x, weight] if bias is None else [x, weight, bias])


def _matmul(cx: Lowering, a, b):
    """matmul with torch's 1-d rules: a vector operand gains a unit dim that the result drops again."""
    ra, rb = cx.rank(a), cx.rank(b)
    a2 = cx.reshape(a, (1,) + cx.shape(a)) if ra == 1 else a
    b2 = cx.reshape(b, cx.shape(b) + (1,)) if rb == 1 else b
    y = cx.op(Op.MATMUL, [a2, b2])
    shape = cx.shape(y)
    if ra == 1:
        shape = shape[:-2] + shape[-1:]
    if rb == 1:
        shape = shape[:-1]
    return cx.reshape(y, shape)


def _pool_attrs(kernel_size, stride, padding, ceil_mode) -> dict:
    ph, pw = _pair(padding)
    return dict(kernel=_pair(kernel_size), stride=_pair(stride) if stride else _pair(kernel_size),
                padding=(ph, pw, ph, pw), ceil_mode=bool(ceil_mode))


@aten_layers.batched
def _max_pool2d(cx: Lowering, x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return cx.op(Op.MAX_POOL2D, [x], **_pool_attrs(kernel_size, stride, padding, ceil_mode),
                 dilation=_pair(dilation))


def _max_pool2d_with_indices(cx: Lowering, x, *args, **kwargs):
    """Only the pooled values are computed; capture reports a use of the indices as unsupported."""
    return _max_pool2d(cx, x, *args, **kwargs), None


@aten_layers.batched
def _avg_pool2d(cx: Lowering, x, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
                divisor_override=None):
    return cx.op(Op.AVG_POOL2D, [x], **_pool_attrs(kernel_size, stride, padding, ceil_mode),
                 count_include_pad=bool(count_include_pad), divisor=divisor_override)


def _softmax(op: Op):
    """_softmax/_log_softmax (x, dim, half_to_float) and softmax.int/log_softmax.int (x, dim, dtype): the result
    dtype these select is checked against the IR's like every other node's."""
    def convert(cx: Lowering, x, dim, *dtype_args, **dtype_kwargs):
        axis = cx.axis(dim, cx.rank(x))
        if cx.rank(x) == 0:  # a 0-d tensor is a row of one
            return cx.reshape(cx.op(op, [cx.reshape(x, (1,))], axis=0), ())
        return cx.op(op, [x], axis=axis)
    return convert


def _affine(cx: Lowering, weight, bias, shape) -> list[str]:
    """Optional (weight, bias) as the IR's trailing inputs: a bias without a weight gets a weight of ones."""
    if weight is None and bias is None:
        return []
    if weight is None:
        weight = cx.const(np.ones(shape, np.float32), hint="ones")
    return [weight] if bias is None else [weight, bias]


def _layer_norm(cx: Lowering, x, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    inputs = [x] + _affine(cx, weight, bias, tuple(normalized_shape))
    return cx.op(Op.LAYER_NORM, inputs, normalized_ndim=len(normalized_shape), eps=float(eps))


def _native_layer_norm(cx: Lowering, x, normalized_shape, weight, bias, eps):
    """-> (out, mean, rstd); mean and rstd (for the backward pass) are computed where something reads them."""
    return (_layer_norm(cx, x, normalized_shape, weight, bias, eps),
            *aten_layers.native_layer_norm_stats(cx, x, normalized_shape, eps))


def _batch_norm_inference(cx: Lowering, x, weight, bias, mean, var, eps) -> str:
    c = cx.shape(x)[1]
    weight = weight if weight is not None else cx.const(np.ones(c, np.float32), hint="ones")
    bias = bias if bias is not None else cx.const(np.zeros(c, np.float32), hint="zeros")
    return cx.op(Op.BATCH_NORM, [x, mean, var, weight, bias], eps=float(eps))


def _batch_norm_no_training(cx: Lowering, x, weight, bias, mean, var, momentum, eps):
    """_native_batch_norm_legit_no_training -> (out, save_mean, save_rstd): the saved statistics of inference are
    empty tensors, as torch returns them."""
    empty = cx.const(np.zeros((0,), np.float32), hint="empty")
    return _batch_norm_inference(cx, x, weight, bias, mean, var, eps), empty, empty


def _native_batch_norm(cx: Lowering, x, weight, bias, mean, var, training, momentum, eps):
    if training or mean is None:
        raise Unlowerable("batch norm in training mode (call model.eval())")
    return _batch_norm_inference(cx, x, weight, bias, mean, var, eps), None, None


def _batch_norm(cx: Lowering, x, weight, bias, mean, var, training, momentum, eps, cudnn_enabled=True):
    return _native_batch_norm(cx, x, weight, bias, mean, var, training, momentum, eps)[0]


@aten_layers.batched
def _upsample_nearest2d(cx: Lowering, x, output_size, scale_h=None, scale_w=None):
    """torch's "nearest" reads in[floor(i / scale)] when given a scale and in[floor(i * in / out)] otherwise;
    the IR computes the latter, which agrees when each scale is exactly out / in."""
    out = tuple(int(s) for s in output_size)
    for size, scale, size_out in zip(cx.shape(x)[2:], (scale_h, scale_w), out):
        if scale is not None and size * scale != size_out:
            raise Unlowerable(f"the non-integral scale factor {scale} (pass size= instead)")
    return cx.op(Op.UPSAMPLE_NEAREST, [x], size=out)


@aten_layers.batched
def _upsample_nearest2d_vec(cx: Lowering, x, output_size, scale_factors):
    if output_size is None:
        h, w = cx.shape(x)[2:]
        output_size = (math.floor(h * scale_factors[0]), math.floor(w * scale_factors[1]))
    scales = scale_factors if scale_factors is not None else (None, None)
    return _upsample_nearest2d(cx, x, output_size, scales[0], scales[1])


def _embedding(cx: Lowering, weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    """embedding -> GATHER; padding_idx only affects gradients."""
    return cx.op(Op.GATHER, [weight, indices])


def _additive_mask(cx: Lowering, attn_mask, is_causal: bool, length: int, source: int) -> tuple[str | None, bool]:
    """The mask as a float addend for the scores, and whether it may mask every key of some query row."""
    if is_causal:
        # torch's causal mask keeps key j for query i when j <= i: never a whole row.
        return cx.const(np.triu(np.full((length, source), -np.inf, np.float32), 1), hint="causal_mask"), False
    if attn_mask is None:
        return None, False
    data = cx.data(attn_mask)
    if cx.type(attn_mask).dtype is DType.BOOL:
        if data is None:
            raise Unlowerable("a boolean attn_mask computed at run time (pass an additive float mask)")
        data = np.where(data, 0.0, -np.inf).astype(np.float32)
        attn_mask = cx.const(data, hint="attn_mask")
    whole_rows = data is None or bool(np.isneginf(data).all(axis=-1).any())
    return cx.tensor(attn_mask), whole_rows


def _softmax_zero_masked_rows(cx: Lowering, scores: str, axis: int) -> str:
    """Softmax that, like torch's attention, gives 0 for a row whose scores are all -inf instead of NaN.
    Clamping -inf to -FLT_MAX keeps such a row finite. Its max plus FLT_MAX is then exactly 0, while for any
    other row it is at least 2**104 (one ulp of FLT_MAX), so clamping that sum to [0, 1] is an exact 0/1 row
    mask, built from IR ops without a select."""
    finite = cx.op(Op.CLAMP, [scores], min=-_FLT_MAX, max=None)
    probs = cx.op(Op.SOFTMAX, [finite], axis=axis)
    top = cx.op(Op.REDUCE_MAX, [finite], axes=(axis,), keepdim=True)
    keep = cx.op(Op.CLAMP, [cx.op(Op.ADD, [top, cx.scalar(_FLT_MAX)])], min=0.0, max=1.0)
    return cx.op(Op.MUL, [probs, keep])


def _attention(cx: Lowering, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
               enable_gqa=False):
    """scaled_dot_product_attention = softmax(q @ k^T * scale + mask) @ v, as torch's math reference computes
    it: MATMUL, MUL, ADD, SOFTMAX, MATMUL. `scale` defaults to 1/sqrt(head dim)."""
    if dropout_p:
        raise Unlowerable("attention dropout (dropout_p > 0 is random even in eval mode)")
    if enable_gqa and cx.shape(q)[-3] != cx.shape(k)[-3]:
        raise Unlowerable("grouped-query attention")
    rank = cx.rank(k)
    length, source, depth = cx.shape(q)[-2], cx.shape(k)[-2], cx.shape(q)[-1]
    k_t = cx.op(Op.PERMUTE, [k], perm=tuple(range(rank - 2)) + (rank - 1, rank - 2))
    scale = 1.0 / math.sqrt(depth) if scale is None else float(scale)
    scores = cx.op(Op.MUL, [cx.op(Op.MATMUL, [q, k_t]), cx.scalar(scale)])
    mask, whole_rows = _additive_mask(cx, attn_mask, bool(is_causal), length, source)
    if mask is not None:
        scores = cx.op(Op.ADD, [scores, mask])
    axis = cx.rank(scores) - 1
    probs = _softmax_zero_masked_rows(cx, scores, axis) if whole_rows else cx.op(Op.SOFTMAX, [scores], axis=axis)
    return cx.op(Op.MATMUL, [probs, v])


def _flash_attention_for_cpu(cx: Lowering, q, k, v, dropout_p=0.0, is_causal=False, attn_mask=None, scale=None):
    """The CPU kernel aot_autograd keeps for SDPA: -> (out, logsumexp); only `out` is computed."""
    return _attention(cx, q, k, v, attn_mask, dropout_p, is_causal, scale), None


NN_OPS = {
    "aten.convolution.default": _convolution,
    "aten.conv2d.default": _conv2d,
    "aten.addmm.default": _addmm,
    "aten.mm.default": _mm,
    "aten.bmm.default": lambda cx, a, b: cx.op(Op.MATMUL, [a, b]),
    "aten.matmul.default": _matmul,
    "aten.linear.default": _linear,
    "aten.max_pool2d.default": _max_pool2d,
    "aten.max_pool2d_with_indices.default": _max_pool2d_with_indices,
    "aten.avg_pool2d.default": _avg_pool2d,
    "aten._softmax.default": _softmax(Op.SOFTMAX),
    "aten.softmax.int": _softmax(Op.SOFTMAX),
    "aten._log_softmax.default": _softmax(Op.LOG_SOFTMAX),
    "aten.log_softmax.int": _softmax(Op.LOG_SOFTMAX),
    "aten.layer_norm.default": _layer_norm,
    "aten.native_layer_norm.default": _native_layer_norm,
    "aten._native_batch_norm_legit_no_training.default": _batch_norm_no_training,
    "aten.native_batch_norm.default": _native_batch_norm,
    "aten.batch_norm.default": _batch_norm,
    "aten.upsample_nearest2d.default": _upsample_nearest2d,
    "aten.upsample_nearest2d.vec": _upsample_nearest2d_vec,
    "aten.embedding.default": _embedding,
    "aten.scaled_dot_product_attention.default": _attention,
    "aten._scaled_dot_product_flash_attention_for_cpu.default": _flash_attention_for_cpu,
}
