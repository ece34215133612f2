"""Quantization arithmetic: TFLite's fixed point (`arith`, `fixedpoint`), the `q` records of integer nodes
(`records`), integer transformer ops (`transformer`) and calibration observers (`observers`)."""
