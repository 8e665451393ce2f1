"""Linear layers whose weights are packed once for oneDNN, for bfloat16 models on the CPU.

A bfloat16 ``nn.Linear`` on the CPU goes through oneDNN, which reorders the
weight into its blocked layout on every call; for the short texts a task
request carries that reorder is a large share of the layer. ``PrepackedLinear``
reorders it once, when the model is loaded, with the operators torch's own
compiler (inductor, with freezing) uses for the same layers, and gives the
same numbers. Measured with all-MiniLM-L6-v2 in bfloat16 on GoEmotions dev
comments, one thread (docs/perf/README.md): a single comment 9.3 -> 7.9
core-ms, batches of 4 5.1 -> 3.9 a comment, batches of 16 4.3 -> 3.8.

The operators are torch's internal ones (``torch.ops.mkldnn``): where they are
missing or refuse a layer, the layer stays a plain ``nn.Linear``.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

logger = logging.getLogger(__name__)

# The batch the weights are packed for (a hint to oneDNN; any batch runs).
PACKED_FOR_ROWS = 32


class PrepackedLinear(nn.Linear):
    """An ``nn.Linear`` (same weight, bias and shapes) that multiplies with its weight packed for oneDNN."""

    packed: torch.Tensor

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> PrepackedLinear:
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        layer.in_features, layer.out_features = linear.in_features, linear.out_features
        layer.weight, layer.bias = linear.weight, linear.bias
        with torch.no_grad():
            packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), PACKED_FOR_ROWS)
        layer.register_buffer("packed", packed, persistent=False)  # counted in the worker's cache budget
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias.detach() if self.bias is not None else None
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, bias, "none", [], "")


def linears_prepack(model: nn.Module) -> int:
    """Replace the bfloat16 ``nn.Linear`` layers of ``model`` (on the CPU, in eval mode) by ``PrepackedLinear``
    where oneDNN can run them, each checked against the plain layer on a sample; returns how many."""
    if not torch.backends.mkldnn.is_available():
        return 0
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is not nn.Linear or child.weight.dtype != torch.bfloat16 or child.weight.is_cuda:
                continue
            try:
                layer = PrepackedLinear.from_linear(child)
                sample = torch.randn(3, child.in_features, dtype=torch.bfloat16)
                with torch.inference_mode():
                    if not torch.equal(layer(sample), child(sample)):
                        continue
            except (RuntimeError, AttributeError, NotImplementedError) as exc:  # no such operator in this torch
                logger.info("linear layers stay unpacked: %s", exc)
                return replaced
            setattr(parent, name, layer)
            replaced += 1
    return replaced
