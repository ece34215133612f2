"""From PyTorch to the IR: capture through torch.export (`capture`), the one ATen -> IR table (`aten_ops`,
`aten_nn`, `aten_quant` through `lowering`), and the torch.compile backend (`dynamo`). The only place that imports
torch at module level."""
