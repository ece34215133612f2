/*
 * edgelower runtime: the kernels that generated models call. The only public header.
 *
 * C99, no allocation, no global state: every kernel works on caller-owned buffers (the model's static arena and
 * its flash constants) and takes its shapes in a small const params struct that the code generator emits as a
 * `static const` initializer. Params hold geometry only; scalar attributes (clamp bounds, eps, fill values) are
 * plain arguments, so one params type serves every dtype of an op.
 *
 * Naming: el_<op>_<type>(params, [scalars,] inputs..., outputs...).
 *   _f32     float32 kernels.
 *   _s8      int8 kernels (section "int8" below): the same geometry params plus their integer parameters in
 *            `static const` record structs (el_dot_q, el_requant, el_add_q, ...), e.g.
 *            el_conv2d_s8(const el_conv2d_params *p, const el_dot_q *q, const el_requant *rq, const int8_t *x,
 *                         const int8_t *w, const int32_t *bias, int8_t *y).
 *   _s8_s32  int8 in, int32 accumulators out (the IR's CONV2D / LINEAR / MATMUL before their REQUANTIZE).
 *   (none)   data-movement kernels are dtype-generic: they copy `elem_size`-byte elements.
 *
 * Numerical contract (float32): exactly rounded ops (add, sub, mul, div, sqrt, max, min, neg, abs, relu, clamp)
 * give the bit-exact IEEE float32 result. Accumulations (conv, linear, matmul, pools, reductions, normalization
 * statistics) run in float32 in a fixed sequential order documented at each kernel, so they sit within
 * about n * FLT_EPSILON * sum|terms| of the exact result (the reference interpreter computes in float64).
 * Transcendentals use <math.h> float functions (expf, logf, tanhf, erff, erfcf) in forms that avoid
 * cancellation. NaN propagates through max, min, relu, clamp and max-pooling, as in PyTorch.
 *
 * Aliasing: kernels whose pointers are `restrict` need disjoint buffers. Elementwise, activation and
 * normalization kernels (no `restrict`) also run in place, with y equal to an input of the same shape: they read
 * every element before (or in the same step as) they write it. The memory planner relies on exactly this list.
 */
#ifndef EDGELOWER_H
#define EDGELOWER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* C99 `restrict`, spelled so that C++ (HLS, tests) can include this header too. */
#ifdef __cplusplus
#define EL_RESTRICT __restrict
#else
#define EL_RESTRICT restrict
#endif

/* Broadcast and strided iteration spaces have at most this many dims (the generator merges contiguous dims). */
#define EL_MAX_DIMS 6

/* The arena's alignment attribute. Compilers other than these must define EL_ALIGNED before including. */
#ifndef EL_ALIGNED
#if defined(__GNUC__) || defined(__clang__) || defined(__CC_ARM) || defined(__ICCARM__)
#define EL_ALIGNED(n) __attribute__((aligned(n)))
#else
#error "edgelower.h: define EL_ALIGNED(n) as this compiler's alignment attribute"
#endif
#endif

/* Status returned by kernels that validate data (gather) and by a model's invoke(). */
#define EL_OK 0
#define EL_ERROR_INDEX 1

/* ---- shared iteration spaces ---------------------------------------------------------------------------- */

/* Two operands read at per-dim strides (in elements; 0 on a broadcast dim) while a contiguous output of
 * `shape` is written in row-major order. ndim >= 1. */
typedef struct {
    int32_t ndim;
    int32_t shape[EL_MAX_DIMS];
    int32_t stride_a[EL_MAX_DIMS];
    int32_t stride_b[EL_MAX_DIMS];
} el_broadcast_params;

/* One operand walked over `shape` at per-dim strides (in elements). ndim >= 1. */
typedef struct {
    int32_t ndim;
    int32_t shape[EL_MAX_DIMS];
    int32_t stride[EL_MAX_DIMS];
} el_walk;

/* A fused activation: conv, linear and add apply it to each result in their own loop, exactly as the standalone
 * kernel (el_relu_f32, el_clamp_f32, el_hardswish_f32) would to the same float. NULL: no activation. */
typedef enum { EL_ACT_RELU = 1, EL_ACT_CLAMP = 2, EL_ACT_HARDSWISH = 3 } el_activation_kind;

typedef struct {
    int32_t kind;   /* el_activation_kind */
    float min, max; /* EL_ACT_CLAMP's bounds; -INFINITY / INFINITY on an unbounded side */
} el_activation_f32;

/* ---- compute: conv.c, dense.c --------------------------------------------------------------------------- */

/* NCHW input, OIHW weights (I = in_channels / groups), NCHW output. Padding positions read as zero; the
 * bottom/right padding is implied by out_h/out_w. */
typedef struct {
    int32_t batch, in_channels, in_h, in_w;
    int32_t out_channels, out_h, out_w;
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left;
    int32_t groups;
} el_conv2d_params;

/* y[n,o,oy,ox] = act(sum over (c, ky, kx) in that order, then + bias[o]). bias and act may be NULL. */
void el_conv2d_f32(const el_conv2d_params *p, const el_activation_f32 *act, const float *EL_RESTRICT x,
                   const float *EL_RESTRICT w, const float *EL_RESTRICT bias, float *EL_RESTRICT y);

/* Depthwise convolution (groups = in_channels = out_channels) written over its own input, as TinyEngine's: each
 * plane's output goes to `scratch` (out_h * out_w elements, disjoint from xy), then over the plane it came from,
 * which no later plane reads. Needs out_h * out_w <= in_h * in_w. Bit-exact with el_conv2d_f32. */
void el_depthwise_conv2d_inplace_f32(const el_conv2d_params *p, const el_activation_f32 *act, float *xy,
                                     const float *EL_RESTRICT w, const float *EL_RESTRICT bias,
                                     float *EL_RESTRICT scratch);

/* x[rows, in_features], w[out_features, in_features]: y = x @ w^T + bias. */
typedef struct {
    int32_t rows, in_features, out_features;
} el_linear_params;

/* Sums over in_features in order, then adds bias (may be NULL), then applies act (may be NULL). */
void el_linear_f32(const el_linear_params *p, const el_activation_f32 *act, const float *EL_RESTRICT x,
                   const float *EL_RESTRICT w, const float *EL_RESTRICT bias, float *EL_RESTRICT y);

/* a[..., m, k] @ b[..., k, n]; `batch` walks the broadcast batch dims with strides counted in elements to each
 * matrix's start; y is contiguous [batch..., m, n]. */
typedef struct {
    int32_t m, k, n;
    el_broadcast_params batch;
} el_matmul_params;

/* Sums over k in order. */
void el_matmul_f32(const el_matmul_params *p, const float *EL_RESTRICT a, const float *EL_RESTRICT b,
                   float *EL_RESTRICT y);

/* ---- elementwise binary: elementwise.c (numpy broadcasting through el_broadcast_params) -------------------- */

/* Add carries the fused activation of residual blocks (act may be NULL). */
void el_add_f32(const el_broadcast_params *p, const el_activation_f32 *act, const float *a, const float *b,
                float *y);
void el_sub_f32(const el_broadcast_params *p, const float *a, const float *b, float *y);
void el_mul_f32(const el_broadcast_params *p, const float *a, const float *b, float *y);
void el_div_f32(const el_broadcast_params *p, const float *a, const float *b, float *y);
void el_maximum_f32(const el_broadcast_params *p, const float *a, const float *b, float *y);
void el_minimum_f32(const el_broadcast_params *p, const float *a, const float *b, float *y);
/* a ** b with powf; the exponents 2, 0.5 and -1 give the exactly rounded a * a, sqrtf(a) and 1 / a. */
void el_pow_f32(const el_broadcast_params *p, const float *a, const float *b, float *y);

/* ---- comparison and selection: select.c, select_s8.c, and el_where (any dtype) in movement.c -------------- */

typedef enum { EL_LT = 0, EL_LE = 1, EL_GT = 2, EL_GE = 3, EL_EQ = 4, EL_NE = 5 } el_predicate;

/* y = a <predicate> b as 0 / 1 bytes (bool), broadcasting; IEEE: every predicate but NE is false on NaN. */
void el_compare_f32(const el_broadcast_params *p, int32_t predicate, const float *a, const float *b, uint8_t *y);
void el_compare_s8(const el_broadcast_params *p, int32_t predicate, const int8_t *a, const int8_t *b, uint8_t *y);

/* y = cond ? a : b for `elem_size`-byte elements, the three operands broadcast to the contiguous output; in place
 * over a or b of the output's shape (movement.c). */
typedef struct {
    int32_t elem_size;
    int32_t ndim;
    int32_t shape[EL_MAX_DIMS];
    int32_t stride_cond[EL_MAX_DIMS];
    int32_t stride_a[EL_MAX_DIMS];
    int32_t stride_b[EL_MAX_DIMS];
} el_where_params;

void el_where(const el_where_params *p, const uint8_t *cond, const void *a, const void *b, void *y);

/* x viewed as [outer, axis, inner]: y[o, i] = the index along `axis` of the first largest (smallest) element, NaN
 * counting as largest (and smallest), as torch.argmax; written as int64 (index_size 8) or int32 (4). */
typedef struct {
    int32_t outer, axis, inner;
    int32_t index_size;
} el_arg_params;

void el_argmax_f32(const el_arg_params *p, const float *EL_RESTRICT x, void *EL_RESTRICT y);
void el_argmin_f32(const el_arg_params *p, const float *EL_RESTRICT x, void *EL_RESTRICT y);
void el_argmax_s8(const el_arg_params *p, const int8_t *EL_RESTRICT x, void *EL_RESTRICT y);
void el_argmin_s8(const el_arg_params *p, const int8_t *EL_RESTRICT x, void *EL_RESTRICT y);

/* ---- elementwise unary: activation.c -------------------------------------------------------------------- */

typedef struct {
    int32_t count;
} el_unary_params;

void el_relu_f32(const el_unary_params *p, const float *x, float *y);
/* Bounds are -INFINITY / INFINITY on an unbounded side. */
void el_clamp_f32(const el_unary_params *p, float lo, float hi, const float *x, float *y);
void el_hardswish_f32(const el_unary_params *p, const float *x, float *y);
void el_hardsigmoid_f32(const el_unary_params *p, const float *x, float *y);
void el_sigmoid_f32(const el_unary_params *p, const float *x, float *y);
void el_tanh_f32(const el_unary_params *p, const float *x, float *y);
void el_gelu_f32(const el_unary_params *p, const float *x, float *y);      /* erf form */
void el_gelu_tanh_f32(const el_unary_params *p, const float *x, float *y); /* tanh approximation */
void el_silu_f32(const el_unary_params *p, const float *x, float *y);
void el_exp_f32(const el_unary_params *p, const float *x, float *y);
void el_log_f32(const el_unary_params *p, const float *x, float *y);
void el_sqrt_f32(const el_unary_params *p, const float *x, float *y);
void el_rsqrt_f32(const el_unary_params *p, const float *x, float *y);
void el_neg_f32(const el_unary_params *p, const float *x, float *y);
void el_abs_f32(const el_unary_params *p, const float *x, float *y);
void el_erf_f32(const el_unary_params *p, const float *x, float *y);
void el_floor_f32(const el_unary_params *p, const float *x, float *y);
void el_ceil_f32(const el_unary_params *p, const float *x, float *y);
void el_round_f32(const el_unary_params *p, const float *x, float *y); /* half to even (rintf) */
void el_trunc_f32(const el_unary_params *p, const float *x, float *y);

/* ---- pooling: pool.c ------------------------------------------------------------------------------------ */

/* `planes` = N * C images of in_h x in_w; dilation applies to max pooling only. Windows that run past the
 * declared bottom/right padding (ceil_mode) ignore those positions. Average pooling: a `divisor` other than 0
 * overrides (PyTorch's divisor_override, of either sign); otherwise each window is divided by its extent clipped to
 * the padded input (count_include_pad) or to the input. */
typedef struct {
    int32_t planes, in_h, in_w, out_h, out_w;
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t count_include_pad;
    int32_t divisor;
} el_pool2d_params;

/* Padding never wins (it is -INFINITY). */
void el_max_pool2d_f32(const el_pool2d_params *p, const float *EL_RESTRICT x, float *EL_RESTRICT y);
/* Sums the in-bounds window in row-major order, then divides. */
void el_avg_pool2d_f32(const el_pool2d_params *p, const float *EL_RESTRICT x, float *EL_RESTRICT y);

/* ---- resampling: resample.c, resample_s8.c ---------------------------------------------------------------- */

/* `planes` = N * C images of in_h x in_w resampled to out_h x out_w. */
typedef struct {
    int32_t planes, in_h, in_w, out_h, out_w;
} el_resample_params;

/* PyTorch's adaptive pooling: output (i, j) reads rows [floor(i * in_h / out_h), ceil((i + 1) * in_h / out_h)) and
 * the same columns of in_w / out_w. The average sums its window in row-major order, then divides by its size. */
void el_adaptive_avg_pool2d_f32(const el_resample_params *p, const float *EL_RESTRICT x, float *EL_RESTRICT y);
void el_adaptive_max_pool2d_f32(const el_resample_params *p, const float *EL_RESTRICT x, float *EL_RESTRICT y);

/* torch's bilinear upsampling: source = i * step with align_corners, else max((i + 0.5) * step - 0.5, 0), in
 * float, with the generator's step per dim ((in - 1) / (out - 1), in / out, or 1 / scale_factor); interpolation
 * between floor(source) and the next element (clamped to the last), along the columns, then the rows. */
void el_resize_bilinear_f32(const el_resample_params *p, int32_t align_corners, float step_h, float step_w,
                            const float *EL_RESTRICT x, float *EL_RESTRICT y);

/* ---- reductions: reduce.c ------------------------------------------------------------------------------- */

/* `outer` walks the kept dims (y is contiguous in that order), `inner` the reduced dims, both with input
 * strides; each output sums its inner walk in row-major order. */
typedef struct {
    el_walk outer;
    el_walk inner;
} el_reduce_params;

void el_sum_f32(const el_reduce_params *p, const float *EL_RESTRICT x, float *EL_RESTRICT y);
void el_mean_f32(const el_reduce_params *p, const float *EL_RESTRICT x, float *EL_RESTRICT y);
void el_reduce_max_f32(const el_reduce_params *p, const float *EL_RESTRICT x, float *EL_RESTRICT y);
void el_reduce_min_f32(const el_reduce_params *p, const float *EL_RESTRICT x, float *EL_RESTRICT y);

/* ---- normalization: norm.c ------------------------------------------------------------------------------ */

/* x viewed as [outer, axis, inner]; the op runs along `axis`. */
typedef struct {
    int32_t outer, axis, inner;
} el_softmax_params;

void el_softmax_f32(const el_softmax_params *p, const float *x, float *y);
void el_log_softmax_f32(const el_softmax_params *p, const float *x, float *y);

/* x viewed as [rows, cols]; each row normalized by its mean and biased variance. weight, bias may be NULL. */
typedef struct {
    int32_t rows, cols;
} el_layer_norm_params;

void el_layer_norm_f32(const el_layer_norm_params *p, float eps, const float *x, const float *weight,
                       const float *bias, float *y);

/* x viewed as [batch, channels, inner]; inference form with per-channel statistics. */
typedef struct {
    int32_t batch, channels, inner;
} el_batch_norm_params;

void el_batch_norm_f32(const el_batch_norm_params *p, float eps, const float *x, const float *mean,
                       const float *var, const float *weight, const float *bias, float *y);

/* ---- data movement, any dtype: movement.c --------------------------------------------------------------- */

/* y[y_offset + sum(i_d * y_stride_d)] = x[x_offset + sum(i_d * x_stride_d)] over `shape`; offsets and strides
 * in elements. One kernel serves reshape, permute, slice, expand (stride 0), and the parts of concat and pad. */
typedef struct {
    int32_t elem_size;
    int32_t ndim;
    int32_t shape[EL_MAX_DIMS];
    int32_t x_offset;
    int32_t x_stride[EL_MAX_DIMS];
    int32_t y_offset;
    int32_t y_stride[EL_MAX_DIMS];
} el_copy_params;

void el_copy(const el_copy_params *p, const void *EL_RESTRICT x, void *EL_RESTRICT y);

typedef struct {
    int32_t elem_size, count;
} el_fill_params;

/* Writes `count` copies of the element at `value`. */
void el_fill(const el_fill_params *p, const void *EL_RESTRICT value, void *EL_RESTRICT y);

/* Nearest-neighbour resize of `planes` images: y[oy][ox] = x[oy * in_h / out_h][ox * in_w / out_w] (floor). */
typedef struct {
    int32_t elem_size, planes, in_h, in_w, out_h, out_w;
} el_upsample_params;

void el_upsample_nearest(const el_upsample_params *p, const void *EL_RESTRICT x, void *EL_RESTRICT y);

/* The table viewed as [outer, rows, row_elems]: y[o, i, :] = table[o, idx[i], :] for `count` indices (numpy's
 * take along the rows' axis). An index outside [0, rows) writes a zero row and makes the call return
 * EL_ERROR_INDEX. The suffix names the index type. */
typedef struct {
    int32_t elem_size, outer, rows, row_elems, count;
} el_gather_params;

int el_gather_i64(const el_gather_params *p, const void *EL_RESTRICT table, const int64_t *EL_RESTRICT idx,
                  void *EL_RESTRICT y);
int el_gather_i32(const el_gather_params *p, const void *EL_RESTRICT table, const int32_t *EL_RESTRICT idx,
                  void *EL_RESTRICT y);

/* ---- float32 <-> int8 edges of an integer region: quantize.c ------------------------------------------------- */

/* QUANTIZE: y = clamp(round_half_away(x / scale) + zero_point, -128, 127), the division in float32 (TFLite's
 * AffineQuantize). Out of range, infinities included, saturates to the end of its sign; NaN gives zero_point. */
void el_quantize_f32_s8(const el_unary_params *p, float scale, int32_t zero_point, const float *x, int8_t *y);
/* DEQUANTIZE: y = (float)(x - zero_point) * scale. */
void el_dequantize_s8_f32(const el_unary_params *p, float scale, int32_t zero_point, const int8_t *x, float *y);

/* ---- int8: conv_s8.c, dense_s8.c, elementwise_s8.c, activation_s8.c, pool_s8.c, reduce_s8.c, norm_s8.c ------
 *
 * TFLite's int8 arithmetic (docs/quantization.md), bit-exact with the integer interpreter
 * (compiler/interp/integer.py) and TFLite's reference kernels: real = (q - zero_point) * scale; int8 x int8
 * products accumulate in int32 and are rescaled by MultiplyByQuantizedMultiplier (a Q31 multiplier and a shift,
 * double rounding). No float or double anywhere: the parameters are the integers the compiler derived once.
 * Offsets are TFLite's: input_offset = -input zero point, output_offset = +output zero point. Integer sums wrap
 * modulo 2^32, as the interpreter's int64 arithmetic wrapped once to int32 does, so the accumulation order is free
 * and the specialized kernels (1x1, depthwise) give the generic kernel's bits.
 * Each kernel names the TFLite function it mirrors. Geometry comes in the float kernels' params structs. */

/* The zero points of an int8 x int8 -> int32 product: acc += (x + input_offset) * (w + weight_offset), the second
 * operand being the weights (conv, linear) or the right-hand matrix (matmul). TFLite's ConvParams input_offset and
 * weights_offset. */
typedef struct {
    int32_t input_offset;
    int32_t weight_offset;
} el_dot_q;

/* Requantization of one int32 value v (an accumulator with its bias, or an int8): TFLite's requantize epilogue
 *   y = clamp(MultiplyByQuantizedMultiplier(v + input_offset, multiplier[i], shift[i]) + output_offset,
 *             act_min, act_max)
 * with i = 0 (per_channel 0) or the channel of v (per_channel 1: one pair per channel of the kernel's geometry).
 * Shifts are in [-31, 31]: a positive shift multiplies by 2^shift before the high multiply. */
typedef struct {
    int32_t per_channel;
    const int32_t *multiplier;
    const int32_t *shift;
    int32_t input_offset;
    int32_t output_offset;
    int32_t act_min, act_max;
} el_requant;

/* Convolution, TFLite reference_integer_ops::ConvPerChannel / DepthwiseConvPerChannel: padding taps are skipped
 * (they stand for x = input zero point, a zero product), acc = bias[o] (0 when bias is NULL) + sum (x + input_offset)
 * * (w + weight_offset). The _s32 forms store the accumulator (the IR's CONV2D with `q`; a REQUANTIZE follows); the
 * others requantize it in the same loop (channel = output channel), so it never reaches memory.
 * Specializations, same results as the generic kernel:
 *   el_conv2d_1x1_*        kernel 1x1, stride 1, no padding, groups 1 (pointwise);
 *   el_depthwise_conv2d_*  groups == in_channels (any channel multiplier out_channels / in_channels). */
void el_conv2d_s8_s32(const el_conv2d_params *p, const el_dot_q *q, const int8_t *EL_RESTRICT x,
                      const int8_t *EL_RESTRICT w, const int32_t *EL_RESTRICT bias, int32_t *EL_RESTRICT y);
void el_conv2d_s8(const el_conv2d_params *p, const el_dot_q *q, const el_requant *rq, const int8_t *EL_RESTRICT x,
                  const int8_t *EL_RESTRICT w, const int32_t *EL_RESTRICT bias, int8_t *EL_RESTRICT y);
void el_conv2d_1x1_s8_s32(const el_conv2d_params *p, const el_dot_q *q, const int8_t *EL_RESTRICT x,
                          const int8_t *EL_RESTRICT w, const int32_t *EL_RESTRICT bias, int32_t *EL_RESTRICT y);
void el_conv2d_1x1_s8(const el_conv2d_params *p, const el_dot_q *q, const el_requant *rq,
                      const int8_t *EL_RESTRICT x, const int8_t *EL_RESTRICT w, const int32_t *EL_RESTRICT bias,
                      int8_t *EL_RESTRICT y);
void el_depthwise_conv2d_s8_s32(const el_conv2d_params *p, const el_dot_q *q, const int8_t *EL_RESTRICT x,
                                const int8_t *EL_RESTRICT w, const int32_t *EL_RESTRICT bias,
                                int32_t *EL_RESTRICT y);
void el_depthwise_conv2d_s8(const el_conv2d_params *p, const el_dot_q *q, const el_requant *rq,
                            const int8_t *EL_RESTRICT x, const int8_t *EL_RESTRICT w,
                            const int32_t *EL_RESTRICT bias, int8_t *EL_RESTRICT y);

/* The fused depthwise convolution written over its own input (groups = in_channels = out_channels), as
 * el_depthwise_conv2d_inplace_f32: each plane's output goes to `scratch` (out_h * out_w bytes, disjoint from xy),
 * then over the plane it came from. Needs out_h * out_w <= in_h * in_w. Bit-exact with el_depthwise_conv2d_s8. */
void el_depthwise_conv2d_inplace_s8(const el_conv2d_params *p, const el_dot_q *q, const el_requant *rq, int8_t *xy,
                                    const int8_t *EL_RESTRICT w, const int32_t *EL_RESTRICT bias,
                                    int8_t *EL_RESTRICT scratch);

/* Fully connected, TFLite reference_integer_ops::FullyConnected(PerChannel): acc = bias[o] + sum over in_features
 * of (x + input_offset) * (w + weight_offset); requantized per out feature (channel = o) or per tensor. */
void el_linear_s8_s32(const el_linear_params *p, const el_dot_q *q, const int8_t *EL_RESTRICT x,
                      const int8_t *EL_RESTRICT w, const int32_t *EL_RESTRICT bias, int32_t *EL_RESTRICT y);
void el_linear_s8(const el_linear_params *p, const el_dot_q *q, const el_requant *rq, const int8_t *EL_RESTRICT x,
                  const int8_t *EL_RESTRICT w, const int32_t *EL_RESTRICT bias, int8_t *EL_RESTRICT y);

/* Batched matmul, TFLite reference_ops::BatchMatMul (int8): acc = sum over k of (a + input_offset) *
 * (b + weight_offset); the fused form requantizes per tensor, or per output column (channel = j). */
void el_matmul_s8_s32(const el_matmul_params *p, const el_dot_q *q, const int8_t *EL_RESTRICT a,
                      const int8_t *EL_RESTRICT b, int32_t *EL_RESTRICT y);
void el_matmul_s8(const el_matmul_params *p, const el_dot_q *q, const el_requant *rq, const int8_t *EL_RESTRICT a,
                  const int8_t *EL_RESTRICT b, int8_t *EL_RESTRICT y);

/* x viewed as [outer, channels, inner]: the channel axis of per-channel requantization. */
typedef struct {
    int32_t outer, channels, inner;
} el_channel_params;

/* REQUANTIZE, TFLite reference_ops::Requantize generalized to per-channel: el_requant applied to every element. */
void el_requantize_s32_s8(const el_channel_params *p, const el_requant *rq, const int32_t *EL_RESTRICT x,
                          int8_t *EL_RESTRICT y);
void el_requantize_s8(const el_channel_params *p, const el_requant *rq, const int8_t *x, int8_t *y);

/* ADD and SUB, TFLite reference_integer_ops::AddFunc (and SubFunc): both inputs offset, shifted left by
 * left_shift, rescaled to a common scale, summed (subtracted), rescaled to the output. TFLite's ArithmeticParams. */
typedef struct {
    int32_t input1_offset, input2_offset;
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t output_offset;
    int32_t act_min, act_max;
} el_add_q;

void el_add_s8(const el_broadcast_params *p, const el_add_q *q, const int8_t *a, const int8_t *b, int8_t *y);
void el_sub_s8(const el_broadcast_params *p, const el_add_q *q, const int8_t *a, const int8_t *b, int8_t *y);

/* MUL, TFLite reference_integer_ops::MulElementwise: (a + input1_offset) * (b + input2_offset) rescaled. */
typedef struct {
    int32_t input1_offset, input2_offset;
    int32_t output_multiplier, output_shift;
    int32_t output_offset;
    int32_t act_min, act_max;
} el_mul_q;

void el_mul_s8(const el_broadcast_params *p, const el_mul_q *q, const int8_t *a, const int8_t *b, int8_t *y);

/* MAXIMUM and MINIMUM of int8 values with one quantization in and out: exact comparisons. */
void el_maximum_s8(const el_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *y);
void el_minimum_s8(const el_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *y);

/* Clamp in the quantized domain (RELU, RELU6, CLAMP, MAXIMUM with a constant): y = min(max(x, lo), hi). */
void el_clamp_s8(const el_unary_params *p, int32_t lo, int32_t hi, const int8_t *x, int8_t *y);

/* HARDSWISH, TFLite reference_ops::HardSwish (int8): 16-bit fixed point, TFLite's HardSwishParams (offsets in
 * the sign convention above: input_offset = -input zero point). */
typedef struct {
    int32_t input_offset, output_offset;
    int32_t reluish_multiplier_fixedpoint_int16, reluish_multiplier_exponent;
    int32_t output_multiplier_fixedpoint_int16, output_multiplier_exponent;
} el_hardswish_q;

void el_hardswish_s8(const el_unary_params *p, const el_hardswish_q *q, const int8_t *x, int8_t *y);

/* SIGMOID and TANH, TFLite reference_integer_ops::Logistic and ::Tanh: x + input_offset rescaled to Q4.27 and run
 * through gemmlowp's fixed-point logistic / tanh; |x + input_offset| >= input_range_radius saturates. Outputs have
 * TFLite's fixed quantization: sigmoid scale 1/256, zero point -128; tanh scale 1/128, zero point 0. */
typedef struct {
    int32_t input_offset;
    int32_t input_range_radius;
    int32_t input_multiplier, input_left_shift;
} el_logistic_q;

void el_sigmoid_s8(const el_unary_params *p, const el_logistic_q *q, const int8_t *x, int8_t *y);
void el_tanh_s8(const el_unary_params *p, const el_logistic_q *q, const int8_t *x, int8_t *y);

/* SOFTMAX along `axis` (el_softmax_params), TFLite reference_ops::Softmax (int8 in, int8 out): differences to the
 * row maximum at or above diff_min are rescaled (beta folded in) to Q5.26 and exponentiated in gemmlowp fixed point;
 * the output has scale 1/256 and zero point -128. */
typedef struct {
    int32_t input_multiplier, input_left_shift;
    int32_t diff_min;
} el_softmax_q;

void el_softmax_s8(const el_softmax_params *p, const el_softmax_q *q, const int8_t *x, int8_t *y);

/* MAX_POOL2D, TFLite reference_integer_ops::MaxPool: the largest in-bounds value (-128 for a window of padding
 * only), clamped to [act_min, act_max]. */
void el_max_pool2d_s8(const el_pool2d_params *p, int32_t act_min, int32_t act_max, const int8_t *EL_RESTRICT x,
                      int8_t *EL_RESTRICT y);

/* AVG_POOL2D, TFLite reference_integer_ops::AveragePool: the raw int8 values of the in-bounds taps summed and
 * divided by their count (padding never counts; count_include_pad and divisor are not read), rounding half away
 * from zero, clamped to [act_min, act_max]. Every window must hold an input. */
void el_avg_pool2d_s8(const el_pool2d_params *p, int32_t act_min, int32_t act_max, const int8_t *EL_RESTRICT x,
                      int8_t *EL_RESTRICT y);

/* MEAN, TFLM's int8 MEAN (reference_ops::QuantizedMeanOrSum, mean branch): with n reduced elements, TFLM folds 1/n
 * into the multiplier, k = min(floor(log2 n), 32, 31 + shift), M_n = (multiplier << k) / n, s_n = shift - k, and
 * y = clamp(MultiplyByQuantizedMultiplier(sum + n * input_offset, M_n, s_n) + output_offset, -128, 127), the sum
 * taken modulo 2^32. n < 2^23 (compiler/quant/records.py, MeanQ). */
typedef struct {
    int32_t input_offset, output_offset;
    int32_t multiplier, shift;
} el_mean_q;

void el_mean_s8(const el_reduce_params *p, const el_mean_q *q, const int8_t *EL_RESTRICT x, int8_t *EL_RESTRICT y);
/* SUM, TFLM's int8 SUM (QuantizedMeanOrSum, sum branch): MEAN's arithmetic without the 1/n fold,
 * y = clamp(MultiplyByQuantizedMultiplier(sum + n * input_offset, multiplier, shift) + output_offset). */
void el_sum_s8(const el_reduce_params *p, const el_mean_q *q, const int8_t *EL_RESTRICT x, int8_t *EL_RESTRICT y);
void el_reduce_max_s8(const el_reduce_params *p, const int8_t *EL_RESTRICT x, int8_t *EL_RESTRICT y);
void el_reduce_min_s8(const el_reduce_params *p, const int8_t *EL_RESTRICT x, int8_t *EL_RESTRICT y);

/* LOOKUP: y = table[x + 128], a 256-entry table computed at compile time (an elementwise function of one int8
 * value; compiler/quant/tables.py). Runs in place. */
void el_lookup_s8(const el_unary_params *p, const int8_t *table, const int8_t *x, int8_t *y);

/* Adaptive pooling on int8 (windows as el_adaptive_avg_pool2d_f32): the maximum, or TFLite AveragePool's rounding of
 * the window's raw sum by its size (half away from zero), clamped to [act_min, act_max]. */
void el_adaptive_max_pool2d_s8(const el_resample_params *p, const int8_t *EL_RESTRICT x, int8_t *EL_RESTRICT y);
void el_adaptive_avg_pool2d_s8(const el_resample_params *p, int32_t act_min, int32_t act_max,
                               const int8_t *EL_RESTRICT x, int8_t *EL_RESTRICT y);

/* RESIZE_BILINEAR, TFLite reference_ops::ResizeBilinearInteger: Q10 source coordinates from the Q10 scales (with
 * half-pixel centres: i * scale + scale / 2 - 512), the 2 x 2 neighbourhood summed in Q20 and rounded half away
 * from zero. */
typedef struct {
    int32_t height_scale_10, width_scale_10;
    int32_t half_pixel_centers;
} el_resize_bilinear_q;

void el_resize_bilinear_s8(const el_resample_params *p, const el_resize_bilinear_q *q, const int8_t *EL_RESTRICT x,
                           int8_t *EL_RESTRICT y);

/* ---- int8 transformer nonlinearities: transformer_s8.c -----------------------------------------------------
 *
 * No TFLite equivalent: I-BERT / I-ViT integer-only softmax, GELU and LayerNorm (docs/quantization.md, "Integer
 * transformer ops", states the algorithms and their error bounds). compiler/quant/transformer.py is the numpy twin,
 * bit for bit, and computes every field below from the scales (ISoftmaxQ, IGeluQ, ILayerNormQ). int64
 * intermediates, no float. All three run in place (y == x). */

/* floor(sqrt(n)) for every n (I-BERT's integer square root: Newton's iteration until it stops decreasing). */
uint32_t el_isqrt_u64(uint64_t n);

/* SOFTMAX along `axis`: exp(x - max) from a Q24 base-2 split and a Q15 polynomial for 2^-phi (poly_a, poly_b: I-BERT's
 * i-exp, or I-ViT's Shiftmax with poly_a = 0), normalized by one int64 reciprocal per row. Output scale 1/256, zero
 * point -128. */
typedef struct {
    int32_t exp_multiplier, diff_limit;
    int32_t poly_a, poly_b;
} el_isoftmax_q;

void el_isoftmax_s8(const el_softmax_params *p, const el_isoftmax_q *q, const int8_t *x, int8_t *y);

/* GELU, I-BERT's i-GELU: x (1 + erf(x / sqrt 2)) / 2 with erf a clipped second-order polynomial, requantized to
 * the output by a dyadic multiplier (one int64 product, one rounding). */
typedef struct {
    int32_t input_offset;
    int32_t erf_multiplier, erf_limit, erf_clip, erf_a;
    int32_t output_multiplier, output_shift, output_offset;
} el_igelu_q;

void el_igelu_s8(const el_unary_params *p, const el_igelu_q *q, const int8_t *x, int8_t *y);

/* LAYER_NORM over rows of `cols`, I-BERT's integer LayerNorm: exact centring, an int64 variance, el_isqrt_u64 on it
 * normalized to 62 bits, one int64 reciprocal per row; weight and bias (int32[cols], never NULL) hold gamma and
 * beta over the output scale. */
typedef struct {
    int32_t variance_shift;
    int64_t epsilon;
    int32_t norm_shift, weight_shift, output_offset;
} el_ilayer_norm_q;

void el_ilayer_norm_s8(const el_layer_norm_params *p, const el_ilayer_norm_q *q, const int8_t *x,
                       const int32_t *weight, const int32_t *bias, int8_t *y);

#ifdef __cplusplus
}
#endif

#endif /* EDGELOWER_H */
