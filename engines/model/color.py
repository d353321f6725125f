"""Colour preservation: keep the content's colours while taking the style's texture.

Two methods (Gatys et al. 2016, "Preserving Color in Neural Artistic Style Transfer"):

* ``coral`` -- before encoding the style, recolour the style image so that its
  pixel mean and covariance equal the content's (a linear map,
  Sigma_c^(1/2) Sigma_s^(-1/2)). Best quality; the style is re-encoded per
  content image, so it is for still images and offline video.
* ``luminance`` -- after decoding, keep the output's luminance and take the
  chroma from the content (YCbCr). Per-frame cost is tiny and nothing is
  re-encoded, so the live app uses it.
"""
from __future__ import annotations

import torch
from torch import Tensor

METHODS = ("coral", "luminance")

# ITU-R BT.601 RGB -> YCbCr (offset-free; Cb/Cr centred on 0)
_YCC = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_RGB = torch.linalg.inv(_YCC)  # once here, not per frame (a compiled graph would carry the inversion along)


def _sqrtm(cov: Tensor, inverse: bool = False, eps: float = 1e-5) -> Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    vals = vals.clamp_min(eps)
    p = -0.5 if inverse else 0.5
    return vecs @ torch.diag(vals**p) @ vecs.T


def coral(style: Tensor, content: Tensor) -> Tensor:
    """Recolour `style` (1x3xHxW, [0, 1]) to the content's colour mean and covariance."""
    s = style[0].double().flatten(1)
    c = content[0].double().flatten(1)
    s_mu, c_mu = s.mean(1, keepdim=True), c.mean(1, keepdim=True)
    s_cov = torch.cov(s) + 1e-5 * torch.eye(3, dtype=s.dtype)
    c_cov = torch.cov(c) + 1e-5 * torch.eye(3, dtype=c.dtype)
    a = _sqrtm(c_cov) @ _sqrtm(s_cov, inverse=True)
    out = a @ (s - s_mu) + c_mu
    return out.reshape(style.shape[1:]).clamp(0, 1)[None].to(style.dtype)


def luminance_transfer(stylized: Tensor, content: Tensor) -> Tensor:
    """Luminance of `stylized` (as displayed, so clipped first), chroma of `content` (Nx3xHxW RGB, same size)."""
    stylized = stylized.clamp(0, 1)
    m = _YCC.to(stylized.device, stylized.dtype)
    y = torch.einsum("ij,njhw->nihw", m[:1], stylized)
    cc = torch.einsum("ij,njhw->nihw", m[1:], content)
    ycc = torch.cat([y, cc], 1)
    rgb = torch.einsum("ij,njhw->nihw", _RGB.to(stylized.device, stylized.dtype), ycc)
    return rgb.clamp(0, 1)
