"""Decompositions of PyTorch's fused inference fast paths, which the core ATen table leaves whole.

nn.TransformerEncoderLayer in eval mode under torch.no_grad() (batch_first, ReLU or GELU) calls one fused kernel,
`aten._transformer_encoder_layer_fwd`: self-attention, residuals, two layer norms and the feed-forward block.
Written here with the ops it stands for (linear, scaled_dot_product_attention, layer_norm, relu/gelu), it reaches
capture as the same ops the slow path produces. Both front doors decompose with this table
(`capture.decomposition_table`).

The arithmetic follows ATen's `transformer_encoder_layer_forward` (aten/src/ATen/native/transformers/
transformer.cpp) and `_native_multi_head_attention` (attention.cpp): q scaled by 1/sqrt(head_dim), softmax over
the keys, and a mask where any nonzero (or True) element masks its key out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

aten = torch.ops.aten


def _additive_mask(mask: torch.Tensor | None, mask_type: int | None, batch: int, dtype: torch.dtype):
    """The fused kernels' mask as an additive one broadcasting to [batch, heads, queries, keys]. Mask types:
    0 [queries, keys], 1 key padding [batch, keys], 2 [batch, heads or 1, queries, keys]."""
    if mask is None:
        return None
    if mask_type == 1:
        mask = mask.view(batch, 1, 1, -1)
    masked = mask if mask.dtype == torch.bool else mask != 0  # the kernels convert a float mask to bool
    return torch.zeros(masked.shape, dtype=dtype).masked_fill(masked, float("-inf"))


def _self_attention(x, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias, mask):
    batch, length, _ = x.shape
    qkv = F.linear(x, qkv_weight, qkv_bias).view(batch, length, 3, num_heads, embed_dim // num_heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [batch, heads, length, head_dim]
    attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return F.linear(attended.transpose(1, 2).reshape(batch, length, embed_dim), proj_weight, proj_bias)


def transformer_encoder_layer_fwd(src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias,
                                  use_gelu, norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2, norm_bias_2,
                                  ffn_weight_1, ffn_bias_1, ffn_weight_2, ffn_bias_2, mask=None, mask_type=None):
    def norm_1(t):
        return F.layer_norm(t, (embed_dim,), norm_weight_1, norm_bias_1, eps)

    def norm_2(t):
        return F.layer_norm(t, (embed_dim,), norm_weight_2, norm_bias_2, eps)

    additive = _additive_mask(mask, mask_type, src.shape[0], src.dtype)
    x = src + _self_attention(norm_1(src) if norm_first else src, embed_dim, num_heads, qkv_weight, qkv_bias,
                              proj_weight, proj_bias, additive)
    x = x if norm_first else norm_1(x)
    hidden = F.linear(norm_2(x) if norm_first else x, ffn_weight_1, ffn_bias_1)
    x = x + F.linear(F.gelu(hidden) if use_gelu else F.relu(hidden), ffn_weight_2, ffn_bias_2)
    return x if norm_first else norm_2(x)


FASTPATH_DECOMPOSITIONS = {
    aten._transformer_encoder_layer_fwd.default: transformer_encoder_layer_fwd,
}
