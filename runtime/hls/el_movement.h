/*
 * Data movement on flat C-order arrays: one kernel, copy_box, for RESHAPE-with-copy, PERMUTE, SLICE, EXPAND, PAD,
 * UPSAMPLE_NEAREST and each input of CONCAT. It walks a box of at most 6 dims with an odometer; along dim d, index j
 * reads the source offset src[src_start[d] + j] (the compiler's table: start + j * step, a permuted stride, j * in / out,
 * or -1 where PAD fills) and writes out_base + sum of j * out_stride[d].
 */
#ifndef EL_HLS_MOVEMENT_H
#define EL_HLS_MOVEMENT_H

#include "el_elementwise.h"

namespace el {

template <class CONFIG, class X, class Y>
void copy_box(const X x[], const int shape[], const int src[], const int src_start[], const int out_stride[], Y y[])
{
    int idx[MAX_DIMS] = {0, 0, 0, 0, 0, 0};
ELEMENTS:
    for (int i = 0; i < CONFIG::count; ++i) {
#pragma HLS PIPELINE II = CONFIG::reuse_factor
        int in = 0, out = CONFIG::out_base;
        bool fill = false;
    OFFSETS:
        for (int d = 0; d < MAX_DIMS; ++d) {
            if (d < CONFIG::ndim) {
                const int s = src[src_start[d] + idx[d]];
                fill = fill || s < 0;
                in += s < 0 ? 0 : s;
                out += idx[d] * out_stride[d];
            }
        }
        y[out] = fill ? Y(CONFIG::fill) : Y(x[in]);
        bool carry = true;
    STEP:
        for (int d = MAX_DIMS - 1; d >= 0; --d) {
            if (carry && d < CONFIG::ndim) {
                ++idx[d];
                if (idx[d] == shape[d]) {
                    idx[d] = 0;
                } else {
                    carry = false;
                }
            }
        }
    }
}

} // namespace el

#endif
