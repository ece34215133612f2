/* The edgelower HLS kernel library: header-only, templated over per-layer config structs that the compiler writes
 * (backends/hls). Vitis HLS and g++ (C-simulation, with the ap_types headers) compile the same code. */
#ifndef EL_HLS_H
#define EL_HLS_H

#include "ap_int.h"
#include "hls_stream.h"

#include "el_arith.h"
#include "el_conv.h"
#include "el_dense.h"
#include "el_elementwise.h"
#include "el_movement.h"
#include "el_norm.h"
#include "el_pool.h"
#include "el_stream.h"

#endif
