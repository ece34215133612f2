/*
 * io_stream plumbing: a 4-d tensor streams channels-last (pixel by pixel, its channels inner, as hls4ml's io_stream),
 * any other tensor in C order. read_* fill a C-order array from a stream and write_* drain one into a stream, for the
 * layers that need their whole input at once (they buffer it); clone2 gives a value read by two layers a stream each;
 * forward copies a stream whose element order does not change (a reshape).
 */
#ifndef EL_HLS_STREAM_H
#define EL_HLS_STREAM_H

#include "hls_stream.h"

namespace el {

template <int N, class T>
void read_flat(hls::stream<T> &s, T x[N])
{
READ:
    for (int i = 0; i < N; ++i) {
#pragma HLS PIPELINE II = 1
        x[i] = s.read();
    }
}

template <int N, class T>
void write_flat(const T x[N], hls::stream<T> &s)
{
WRITE:
    for (int i = 0; i < N; ++i) {
#pragma HLS PIPELINE II = 1
        s.write(x[i]);
    }
}

/* A channels-last stream of [batch, channels, height, width] into the NCHW array. */
template <int B, int C, int H, int W, class T>
void read_nhwc(hls::stream<T> &s, T x[B * C * H * W])
{
READ:
    for (int i = 0; i < B * C * H * W; ++i) {
#pragma HLS PIPELINE II = 1
        const int c = i % C, p = (i / C) % (H * W), b = i / (C * H * W);
        x[(b * C + c) * H * W + p] = s.read();
    }
}

template <int B, int C, int H, int W, class T>
void write_nhwc(const T x[B * C * H * W], hls::stream<T> &s)
{
WRITE:
    for (int i = 0; i < B * C * H * W; ++i) {
#pragma HLS PIPELINE II = 1
        const int c = i % C, p = (i / C) % (H * W), b = i / (C * H * W);
        s.write(x[(b * C + c) * H * W + p]);
    }
}

template <int N, class T>
void clone2(hls::stream<T> &s, hls::stream<T> &a, hls::stream<T> &b)
{
CLONE:
    for (int i = 0; i < N; ++i) {
#pragma HLS PIPELINE II = 1
        const T v = s.read();
        a.write(v);
        b.write(v);
    }
}

template <int N, class T>
void forward(hls::stream<T> &s, hls::stream<T> &y)
{
FORWARD:
    for (int i = 0; i < N; ++i) {
#pragma HLS PIPELINE II = 1
        y.write(s.read());
    }
}

/* A RESHAPE whose element order the stream keeps: the values pass through. */
template <class CONFIG, class T>
void reshape_stream(hls::stream<T> &s, hls::stream<T> &y)
{
FORWARD:
    for (int i = 0; i < CONFIG::count; ++i) {
#pragma HLS PIPELINE II = 1
        y.write(s.read());
    }
}

} // namespace el

#endif
