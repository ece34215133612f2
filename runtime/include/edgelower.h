/*
 * edgelower runtime: the kernels that generated models call. The only public header.
 *
 * C99, no allocation, no global state: every kernel works on caller-owned buffers (the model's static arena and
 * its flash constants) and takes its shapes in a small const params struct that the code generator emits as a
 * `static const` initializer. Params hold geometry only; scalar attributes (clamp bounds, eps, fill values) are
 * plain arguments, so one params type serves every dtype of an op.
 *
 * Naming: el_<op>_<type>(params, [scalars,] inputs..., outputs...).
 *   _f32  float32 kernels (this file).
 *   _s8   int8 kernels slot in next with the same params plus a requantization argument, e.g.
 *         el_conv2d_s8(const el_conv2d_params *p, const el_requant *q, const int8_t *x, const int8_t *w,
 *                      const int32_t *bias, int8_t *y).
 *   (none) data-movement kernels are dtype-generic: they copy `elem_size`-byte elements.
 *
 * Numerical contract (float32): exactly rounded ops (add, sub, mul, div, sqrt, max, min, neg, abs, relu, clamp)
 * give the bit-exact IEEE float32 result. Accumulations (conv, linear, matmul, pools, reductions, normalization
 * statistics) run in float32 in a fixed sequential order documented at each kernel, so they sit within
 * about n * FLT_EPSILON * sum|terms| of the exact result (the reference interpreter computes in float64).
 * Transcendentals use <math.h> float functions (expf, logf, tanhf, erff, erfcf) in forms that avoid
 * cancellation. NaN propagates through max, min, relu, clamp and max-pooling, as in PyTorch.
 *
 * Aliasing: kernels whose pointers are `restrict` need disjoint buffers. Elementwise, activation and
 * normalization kernels (no `restrict`) also run in place, with y equal to an input of the same shape.
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

/* y[n,o,oy,ox] = sum over (c, ky, kx) in that order, then + bias[o]. bias may be NULL. */
void el_conv2d_f32(const el_conv2d_params *p, const float *EL_RESTRICT x, const float *EL_RESTRICT w,
                   const float *EL_RESTRICT bias, float *EL_RESTRICT y);

/* x[rows, in_features], w[out_features, in_features]: y = x @ w^T + bias. */
typedef struct {
    int32_t rows, in_features, out_features;
} el_linear_params;

/* Sums over in_features in order, then adds bias (may be NULL). */
void el_linear_f32(const el_linear_params *p, const float *EL_RESTRICT x, const float *EL_RESTRICT w,
                   const float *EL_RESTRICT bias, float *EL_RESTRICT y);

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

void el_add_f32(const el_broadcast_params *p, const float *a, const float *b, float *y);
void el_sub_f32(const el_broadcast_params *p, const float *a, const float *b, float *y);
void el_mul_f32(const el_broadcast_params *p, const float *a, const float *b, float *y);
void el_div_f32(const el_broadcast_params *p, const float *a, const float *b, float *y);
void el_maximum_f32(const el_broadcast_params *p, const float *a, const float *b, float *y);
void el_minimum_f32(const el_broadcast_params *p, const float *a, const float *b, float *y);

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

/* ---- pooling: pool.c ------------------------------------------------------------------------------------ */

/* `planes` = N * C images of in_h x in_w; dilation applies to max pooling only. Windows that run past the
 * declared bottom/right padding (ceil_mode) ignore those positions. Average pooling: `divisor` > 0 overrides;
 * otherwise each window is divided by its extent clipped to the padded input (count_include_pad) or to the
 * input. */
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

/* y[i, :] = table[idx[i], :] for `count` indices into a [rows, row_elems] table. An index outside [0, rows)
 * writes a zero row and makes the call return EL_ERROR_INDEX. The suffix names the index type. */
typedef struct {
    int32_t elem_size, rows, row_elems, count;
} el_gather_params;

int el_gather_i64(const el_gather_params *p, const void *EL_RESTRICT table, const int64_t *EL_RESTRICT idx,
                  void *EL_RESTRICT y);
int el_gather_i32(const el_gather_params *p, const void *EL_RESTRICT table, const int32_t *EL_RESTRICT idx,
                  void *EL_RESTRICT y);

#ifdef __cplusplus
}
#endif

#endif /* EDGELOWER_H */
