/* Data movement for any dtype: elements are `elem_size` bytes, moved with memcpy (a fixed-size memcpy compiles
 * to one load and store, and never reinterprets a float as an integer lvalue). Results are bit-exact. */
#include <string.h>

#include "internal.h"

/* Copies one row of n elements between strided positions; contiguous rows become one memcpy. */
static void copy_row(int32_t es, int32_t n, const unsigned char *restrict x, int32_t sx, unsigned char *restrict y,
                     int32_t sy)
{
    int32_t i;
    if (sx == 1 && sy == 1) {
        memcpy(y, x, (size_t)n * (size_t)es);
        return;
    }
    switch (es) {
    case 1:
        for (i = 0; i < n; ++i) y[i * sy] = x[i * sx];
        break;
    case 2:
        for (i = 0; i < n; ++i) memcpy(y + i * sy * 2, x + i * sx * 2, 2);
        break;
    case 4:
        for (i = 0; i < n; ++i) memcpy(y + i * sy * 4, x + i * sx * 4, 4);
        break;
    case 8:
        for (i = 0; i < n; ++i) memcpy(y + i * sy * 8, x + i * sx * 8, 8);
        break;
    default:
        for (i = 0; i < n; ++i) memcpy(y + i * sy * es, x + i * sx * es, (size_t)es);
        break;
    }
}

void el_copy(const el_copy_params *p, const void *restrict x, void *restrict y)
{
    const unsigned char *xb = (const unsigned char *)x;
    unsigned char *yb = (unsigned char *)y;
    const int32_t last = p->ndim - 1;
    const int32_t rows = el_product(last, p->shape);
    const int32_t es = p->elem_size;
    int32_t idx[EL_MAX_DIMS] = {0};
    int32_t ox = p->x_offset, oy = p->y_offset, r;
    for (r = 0; r < rows; ++r) {
        copy_row(es, p->shape[last], xb + ox * es, p->x_stride[last], yb + oy * es, p->y_stride[last]);
        el_step(last, p->shape, idx, p->x_stride, &ox, p->y_stride, &oy);
    }
}

void el_fill(const el_fill_params *p, const void *restrict value, void *restrict y)
{
    unsigned char *yb = (unsigned char *)y;
    int32_t i;
    for (i = 0; i < p->count; ++i) memcpy(yb + i * p->elem_size, value, (size_t)p->elem_size);
}

/* floor(i * in / out) in exact integer arithmetic, as the IR defines nearest resizing. */
static int32_t nearest(int32_t i, int32_t in, int32_t out)
{
    return (int32_t)(((int64_t)i * in) / out);
}

void el_upsample_nearest(const el_upsample_params *p, const void *restrict x, void *restrict y)
{
    const unsigned char *xb = (const unsigned char *)x;
    unsigned char *yb = (unsigned char *)y;
    const int32_t es = p->elem_size;
    int32_t n, oy, ox;
    for (n = 0; n < p->planes; ++n) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t row = (n * p->in_h + nearest(oy, p->in_h, p->out_h)) * p->in_w;
            for (ox = 0; ox < p->out_w; ++ox) {
                memcpy(yb, xb + (row + nearest(ox, p->in_w, p->out_w)) * es, (size_t)es);
                yb += es;
            }
        }
    }
}

/* Row (o, i) of y is row `index` of the table's outer block o; a bad index gives a zero row (memory stays safe)
 * and an error status. */
static int gather_row(const el_gather_params *p, const void *restrict table, int64_t index, int32_t o, int32_t i,
                      void *restrict y)
{
    const int32_t row = p->row_elems * p->elem_size;
    unsigned char *dst = (unsigned char *)y + (o * p->count + i) * row;
    if (index < 0 || index >= p->rows) {
        memset(dst, 0, (size_t)row);
        return EL_ERROR_INDEX;
    }
    memcpy(dst, (const unsigned char *)table + (o * p->rows + (int32_t)index) * row, (size_t)row);
    return EL_OK;
}

int el_gather_i64(const el_gather_params *p, const void *restrict table, const int64_t *restrict idx,
                  void *restrict y)
{
    int status = EL_OK;
    int32_t o, i;
    for (o = 0; o < p->outer; ++o) {
        for (i = 0; i < p->count; ++i) status |= gather_row(p, table, idx[i], o, i, y);
    }
    return status;
}

int el_gather_i32(const el_gather_params *p, const void *restrict table, const int32_t *restrict idx,
                  void *restrict y)
{
    int status = EL_OK;
    int32_t o, i;
    for (o = 0; o < p->outer; ++o) {
        for (i = 0; i < p->count; ++i) status |= gather_row(p, table, idx[i], o, i, y);
    }
    return status;
}

/* Element i is read before it is written, so y may be a or b where that operand has the output's shape. */
void el_where(const el_where_params *p, const uint8_t *cond, const void *a, const void *b, void *y)
{
    const unsigned char *ab = (const unsigned char *)a, *bb = (const unsigned char *)b;
    unsigned char *yb = (unsigned char *)y;
    const int32_t count = el_product(p->ndim, p->shape), es = p->elem_size;
    int32_t idx[EL_MAX_DIMS] = {0};
    int32_t oc = 0, oa = 0, ob = 0, i, d;
    for (i = 0; i < count; ++i) {
        memcpy(yb + i * es, cond[oc] ? ab + oa * es : bb + ob * es, (size_t)es);
        for (d = p->ndim - 1; d >= 0; --d) { /* the odometer of el_step, over three operands */
            oc += p->stride_cond[d];
            oa += p->stride_a[d];
            ob += p->stride_b[d];
            if (++idx[d] < p->shape[d]) break;
            idx[d] = 0;
            oc -= p->stride_cond[d] * p->shape[d];
            oa -= p->stride_a[d] * p->shape[d];
            ob -= p->stride_b[d] * p->shape[d];
        }
    }
}
