"""Quantization arithmetic: the integer algebra the integer ops are written in (`algebra`), TFLite's requantization
and fixed point written in it (`arith`, `fixedpoint`), the `q` records of integer nodes (`records`), integer
transformer ops (`transformer`) and calibration observers (`observers`)."""
