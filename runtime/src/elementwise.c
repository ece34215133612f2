/* Binary elementwise kernels with numpy broadcasting. Each result is one exactly rounded float32 operation. */
#include "internal.h"

#include <math.h>

typedef enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MAX, OP_MIN, OP_POW } binary_op;

/* powf, with the exponents whose result is one exactly rounded operation spelled as that operation. */
static float power(float a, float b)
{
    if (b == 2.0f) return a * a;
    if (b == 0.5f) return sqrtf(a);
    if (b == -1.0f) return 1.0f / a;
    return powf(a, b);
}

/* One output row: the op is dispatched once per row, so the loops stay tight. Only add has an activation. */
static void binary_row(binary_op op, const el_activation_f32 *act, int32_t n, const float *a, int32_t sa,
                       const float *b, int32_t sb, float *y)
{
    int32_t i;
    switch (op) {
    case OP_ADD:
        if (act) {
            for (i = 0; i < n; ++i) y[i] = el_activate(act, a[i * sa] + b[i * sb]);
        } else {
            for (i = 0; i < n; ++i) y[i] = a[i * sa] + b[i * sb];
        }
        break;
    case OP_SUB:
        for (i = 0; i < n; ++i) y[i] = a[i * sa] - b[i * sb];
        break;
    case OP_MUL:
        for (i = 0; i < n; ++i) y[i] = a[i * sa] * b[i * sb];
        break;
    case OP_DIV:
        for (i = 0; i < n; ++i) y[i] = a[i * sa] / b[i * sb];
        break;
    case OP_MAX:
        for (i = 0; i < n; ++i) y[i] = el_maxf(a[i * sa], b[i * sb]);
        break;
    case OP_MIN:
        for (i = 0; i < n; ++i) y[i] = el_minf(a[i * sa], b[i * sb]);
        break;
    case OP_POW:
        for (i = 0; i < n; ++i) y[i] = power(a[i * sa], b[i * sb]);
        break;
    }
}

/* Walks the output row by row; the innermost dim is the row. y may equal a or b when that operand has the
 * output's shape: each element is read before it is written. */
static void broadcast(const el_broadcast_params *p, binary_op op, const el_activation_f32 *act, const float *a,
                      const float *b, float *y)
{
    const int32_t last = p->ndim - 1;
    const int32_t n = p->shape[last];
    const int32_t rows = el_product(last, p->shape);
    int32_t idx[EL_MAX_DIMS] = {0};
    int32_t oa = 0, ob = 0, r;
    for (r = 0; r < rows; ++r) {
        binary_row(op, act, n, a + oa, p->stride_a[last], b + ob, p->stride_b[last], y + r * n);
        el_step(last, p->shape, idx, p->stride_a, &oa, p->stride_b, &ob);
    }
}

void el_add_f32(const el_broadcast_params *p, const el_activation_f32 *act, const float *a, const float *b,
                float *y)
{
    broadcast(p, OP_ADD, act, a, b, y);
}

void el_sub_f32(const el_broadcast_params *p, const float *a, const float *b, float *y)
{
    broadcast(p, OP_SUB, NULL, a, b, y);
}

void el_mul_f32(const el_broadcast_params *p, const float *a, const float *b, float *y)
{
    broadcast(p, OP_MUL, NULL, a, b, y);
}

void el_div_f32(const el_broadcast_params *p, const float *a, const float *b, float *y)
{
    broadcast(p, OP_DIV, NULL, a, b, y);
}

void el_maximum_f32(const el_broadcast_params *p, const float *a, const float *b, float *y)
{
    broadcast(p, OP_MAX, NULL, a, b, y);
}

void el_minimum_f32(const el_broadcast_params *p, const float *a, const float *b, float *y)
{
    broadcast(p, OP_MIN, NULL, a, b, y);
}

void el_pow_f32(const el_broadcast_params *p, const float *a, const float *b, float *y)
{
    broadcast(p, OP_POW, NULL, a, b, y);
}
