"""Integer lowering: calibrate and quantize (`quantize`), lower to integer-only `q` records (`lower_integer`,
`lower_integer_ops`, `lower_transformer`)."""
