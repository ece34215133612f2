/*
 * The int8 kernels' fast paths for Arm cores with the DSP extension (Cortex-M4, M7, M55), and the one switch that
 * selects them. Internal header of the runtime; the public API is edgelower.h's, unchanged.
 *
 * Dispatch: `-mcpu` makes the compiler define __ARM_FEATURE_DSP, so a build for a DSP core compiles
 * conv_s8_dsp.c and dense_s8_dsp.c, and the portable kernels in conv_s8.c / dense_s8.c first offer each call to
 * them (EL_S8_DSP below). A fast path returns 1 when it computed the call and 0, having written nothing, when the
 * call's geometry or parameters are outside what it handles; the portable loop then runs. Building with
 * -DEL_PORTABLE_KERNELS turns the fast paths off on any core (the benchmark compares the two on the same core).
 *
 * Exactness: every fast path forms the same products (x + input_offset) * (w + weight_offset) as the portable
 * kernel, each exact in 32 bits, and adds them to the same bias modulo 2^32 (SMLAD, SMLABB and SMLATB keep the low
 * 32 bits of the sum and only set the sticky Q flag on signed overflow). Modular addition does not depend on order
 * or grouping, so the accumulator's bits are the portable kernel's, and el_put requantizes it with the same code.
 */
#ifndef EL_S8_DSP_H
#define EL_S8_DSP_H

#include "s8.h"

#if defined(__ARM_FEATURE_DSP) && !defined(EL_PORTABLE_KERNELS)
#define EL_S8_DSP 1
#else
#define EL_S8_DSP 0
#endif

#if EL_S8_DSP
#include <arm_acle.h>
#include <string.h>

/* Four bytes from any address: memcpy is the C99 way to load a word without alignment or aliasing assumptions, and
 * compiles to one LDR (ARMv7-M and ARMv8-M load words from unaligned addresses). */
static inline uint32_t el_read32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* v rotated right by 8 bits: ACLE's __ror, which GCC 12's arm_acle.h lacks; GCC compiles the idiom to one ROR. Fed to
 * SXTAB16 it selects bytes 1 and 3 instead of 0 and 2. */
static inline uint32_t el_ror8(uint32_t v)
{
    return (v >> 8) | (v << 24);
}

/* An offset in both halfwords, for SXTAB16: each lane becomes (int8 byte + offset). */
static inline uint32_t el_offset_pair(int32_t offset)
{
    return ((uint32_t)offset & 0xFFFFu) * 0x10001u;
}

/* Whether int8 + offset always fits an int16 lane, so that SXTAB16's per-lane sum modulo 2^16 is the exact sum.
 * The zero points of int8 tensors give offsets in [-127, 128], far inside; the check keeps the fast paths exact
 * for any record and sends the others to the portable loop. */
static inline int el_offset_fits16(int32_t offset)
{
    return offset >= -32640 && offset <= 32639;
}

/* Any convolution with one group or several, through a partial im2col of two output pixels into int16 and 2x2
 * (output channel x pixel) tiles; declines when cin / groups * kernel_h * kernel_w exceeds EL_DSP_MAX_TAPS. */
int el_conv_im2col_dsp(const el_conv2d_params *p, const el_dot_q *q, const int8_t *x, const int8_t *w,
                       const int32_t *bias, const el_sink *out);
/* Depthwise (groups == in_channels) with a 3-wide kernel, horizontal dilation 1, kernel_h <= 8, a padded input
 * plane of at most EL_DSP_DW_PLANE bytes and an input zero point that is an int8. */
int el_conv_depthwise_dsp(const el_conv2d_params *p, const el_dot_q *q, const int8_t *x, const int8_t *w,
                          const int32_t *bias, const el_sink *out);
/* Fully connected, two output features at a time. */
int el_linear_dsp(const el_linear_params *p, const el_dot_q *q, const int8_t *x, const int8_t *w,
                  const int32_t *bias, const el_sink *out);
#endif

#endif /* EL_S8_DSP_H */
