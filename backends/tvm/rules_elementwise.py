"""Elementwise ops: float32 math by Relax's own operators, and the integer arithmetic that wraps (ADD, SUB, MUL,
NEG, ABS) through `rules_integer.wrapping`. Bounds (RELU, CLAMP, MAXIMUM, MINIMUM) are exact in every dtype.
Binary ops broadcast like numpy, as Relax's do."""

from __future__ import annotations

from edgelower.backends.tvm.rules import Rule, float_only
from edgelower.backends.tvm.rules_integer import absolute, negate, wrapping
from edgelower.ir.graph import Op


def _is_float(call) -> bool:
    return call.out.dtype.is_float


def _arithmetic(name: str):
    """ADD, SUB, MUL: Relax's operator on float32, modulo 2^bits on integers."""
    def lower(ctx, call):
        fn = getattr(ctx.R, name)
        if _is_float(call):
            return ctx.activated(call, fn(*call.args))
        return ctx.activated(call, wrapping(ctx, fn, call.args, call.dtype))
    return lower


def _relax(name: str):
    """An op that is Relax's operator `name` in every dtype it takes (`R.<name>` or `R.nn.<name>`)."""
    def lower(ctx, call):
        fn = getattr(ctx.R.nn, name[3:]) if name.startswith("nn.") else getattr(ctx.R, name)
        return fn(*call.args)
    return lower


def _neg(ctx, call):
    return ctx.R.negative(call.args[0]) if _is_float(call) else negate(ctx, call.args[0], call.dtype)


def _abs(ctx, call):
    return ctx.R.abs(call.args[0]) if _is_float(call) else absolute(ctx, call.args[0], call.dtype)


def _relu(ctx, call):
    return ctx.R.maximum(call.args[0], ctx.const(0, call.dtype))


def _clamp(ctx, call):
    """max then min with constants of the value's dtype: exact for every integer bound (R.clip takes floats)."""
    x, lo, hi = call.args[0], call.attrs["min"], call.attrs["max"]
    if lo is not None:
        x = ctx.emit(ctx.R.maximum(x, ctx.const(lo, call.dtype)))
    if hi is not None:
        x = ctx.R.minimum(x, ctx.const(hi, call.dtype))
    return x


def _hardsigmoid_of(ctx, x):
    R, f = ctx.R, lambda v: ctx.const(v, "float32")
    return R.divide(R.minimum(R.maximum(R.add(x, f(3.0)), f(0.0)), f(6.0)), f(6.0))


def _hardsigmoid(ctx, call):
    return _hardsigmoid_of(ctx, call.args[0])


def _hardswish(ctx, call):
    x = call.args[0]
    return ctx.R.multiply(x, ctx.emit(_hardsigmoid_of(ctx, x)))


def _gelu(ctx, call):
    approximate = call.attrs["approximate"]
    if approximate not in ("none", "tanh"):
        raise ValueError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}")
    return (ctx.R.nn.gelu if approximate == "none" else ctx.R.nn.gelu_tanh)(call.args[0])


def _float_rule(lower) -> Rule:
    return Rule(lower, float_only)


RULES: dict[Op, Rule] = {
    Op.ADD: Rule(_arithmetic("add")),
    Op.SUB: Rule(_arithmetic("subtract")),
    Op.MUL: Rule(_arithmetic("multiply")),
    Op.DIV: _float_rule(_relax("divide")),
    Op.MAXIMUM: Rule(_relax("maximum")),
    Op.MINIMUM: Rule(_relax("minimum")),
    Op.NEG: Rule(_neg),
    Op.ABS: Rule(_abs),
    Op.RELU: Rule(_relu),
    Op.CLAMP: Rule(_clamp),
    Op.HARDSWISH: _float_rule(_hardswish),
    Op.HARDSIGMOID: _float_rule(_hardsigmoid),
    Op.SIGMOID: _float_rule(_relax("sigmoid")),
    Op.TANH: _float_rule(_relax("tanh")),
    Op.GELU: _float_rule(_gelu),
    Op.SILU: _float_rule(_relax("nn.silu")),
    Op.EXP: _float_rule(_relax("exp")),
    Op.LOG: _float_rule(_relax("log")),
    Op.SQRT: _float_rule(_relax("sqrt")),
    Op.RSQRT: _float_rule(_relax("rsqrt")),
    Op.ERF: _float_rule(_relax("erf")),
}
