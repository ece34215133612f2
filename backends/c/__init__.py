"""The C backend: a planned Schedule rendered as C99 over the edgelower runtime (`render`), through kernel tables
for float (`kernels`) and int8 (`kernels_s8`, `transformer`) and C spelling (`syntax`)."""
