"""Patch-based inference: rewrite the early stage into tiles (`tile_patches`) and choose the split and grid
(`choose_patches`)."""
