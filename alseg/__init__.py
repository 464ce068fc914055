"""alseg: active learning for semantic segmentation.

Shape conventions used everywhere in the library:

- ``probs (B, C, H, W)``: float in [0, 1], sums to 1 over C.
- ``region_map (H, W)`` / ``regions (B, H, W)``: int64 region ids, ``-1`` = no region.
  Region ids are per image, contiguous ``0 .. n_regions - 1``.
- ``labels (B, H, W)``: class ids; the dataset's ``ignore_index`` (e.g. 11 on CamVid, 255 in
  rendered training targets) marks pixels that carry no label.
"""

__version__ = "0.1.0"

IGNORE = 255  # ignore id in rendered training targets and pseudo-labels (uint8 maps)
