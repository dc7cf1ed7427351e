"""The benchmark's architectures in plain PyTorch (channels_last), for an outside reference point.

Each mirrors a `lab_utils.models.builders` builder layer for layer (same widths, paddings, conv → ReLU → batch norm
order, dropout rates) and starts, like the Keras models, from uint8 pixels scaled inside the model. Only
`benchmarks/` imports this module, and only when PyTorch is installed: it is not a project dependency.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# The "caffe" preprocessing of keras.applications VGG19: RGB → BGR, minus the ImageNet BGR means.
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)
VGG19_WIDTHS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))  # (filters, convs) per block


class Rescale(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (1.0 / 255.0)


class CaffePreprocess(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_BGR_MEAN).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(1) - self.mean


def _conv_relu(in_ch: int, out_ch: int, *, padding: int, batch_norm: bool = False) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, 3, padding=padding), nn.ReLU(inplace=True)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_ch, eps=1e-3, momentum=0.01))  # Keras's defaults
    return layers


def simple_cnn(in_channels: int = 1, num_classes: int = 10, dense_units: int = 128, size: int = 28) -> nn.Module:
    """lab_utils.models.builders.build_simple_cnn: conv32 → pool → conv64 → conv64 → pool → fc128 → predictions."""
    side = ((size - 2) // 2 - 4) // 2
    return nn.Sequential(
        Rescale(),
        *_conv_relu(in_channels, 32, padding=0),
        nn.MaxPool2d(2),
        *_conv_relu(32, 64, padding=0),
        *_conv_relu(64, 64, padding=0),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * side * side, dense_units),
        nn.ReLU(inplace=True),
        nn.Linear(dense_units, num_classes),
    )


def vgg_blocks(
    in_channels: int = 3,
    num_classes: int = 10,
    filters: Sequence[int] = (32, 64, 128),
    dense_units: int = 128,
    batch_norm: bool = True,
    dropout: float = 0.2,
    size: int = 32,
) -> nn.Module:
    """lab_utils.models.builders.build_vgg_blocks: per block 2 × (conv → ReLU → [BN]) → pool → dropout;
    fc → predictions."""
    layers: list[nn.Module] = [Rescale()]
    width = in_channels
    for out in filters:
        layers += _conv_relu(width, out, padding=1, batch_norm=batch_norm)
        layers += _conv_relu(out, out, padding=1, batch_norm=batch_norm)
        layers += [nn.MaxPool2d(2), nn.Dropout(dropout)]
        width = out
    side = size // 2 ** len(filters)
    layers += [nn.Flatten(), nn.Linear(width * side * side, dense_units), nn.ReLU(inplace=True)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(dense_units, eps=1e-3, momentum=0.01))
    layers += [nn.Dropout(dropout), nn.Linear(dense_units, num_classes)]
    return nn.Sequential(*layers)


class FrozenBaseTransfer(nn.Module):
    """lab_utils.models.builders.build_transfer_model("vgg19", freeze_base=True): a VGG19 base in inference mode, no
    gradients, then flatten → fc1 (ReLU) → dropout → predictions; only the head trains."""

    def __init__(
        self,
        num_classes: int = 10,
        dense_units: int = 256,
        dropout: float = 0.2,
        size: int = 32,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [CaffePreprocess()]
        width = 3
        for out, convs in VGG19_WIDTHS:
            for _ in range(convs):
                layers += _conv_relu(width, out, padding=1)
                width = out
            layers.append(nn.MaxPool2d(2))
        self.base = nn.Sequential(*layers).requires_grad_(False)
        side = size // 32
        head: list[nn.Module] = [nn.Flatten(), nn.Linear(width * side * side, dense_units), nn.ReLU(inplace=True)]
        if batch_norm:
            head.append(nn.BatchNorm1d(dense_units, eps=1e-3, momentum=0.01))
        self.head = nn.Sequential(*head, nn.Dropout(dropout), nn.Linear(dense_units, num_classes))

    def train(self, mode: bool = True) -> FrozenBaseTransfer:
        super().train(mode)
        self.base.eval()  # like Keras's base(x, training=False)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            features = self.base(x)
        return self.head(features)


def flip_shift(x: torch.Tensor, generator: torch.Generator, shift: float = 0.1) -> torch.Tensor:
    """Random horizontal flip + translation by up to ±`shift` of the size, bilinear, edges repeated ("nearest"
    fill): what lab_utils.data.augment's "flip_shift" preset does with Keras layers."""
    n = x.shape[0]
    flip = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, :, 2] = (torch.rand(n, 2, generator=generator) * 2 - 1) * shift * 2  # grid spans [-1, 1]: size 2
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class Trainer:
    """A plain PyTorch training loop over uint8 NHWC arrays, shuffled each epoch: the reference pipeline."""

    def __init__(
        self,
        model: nn.Module,
        x: np.ndarray,
        y: np.ndarray,
        *,
        batch_size: int,
        optimizer: str,
        learning_rate: float,
        augmentation: str | None = None,
        seed: int = 0,
    ) -> None:
        torch.manual_seed(seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.model = model.to(memory_format=torch.channels_last)
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = (
            torch.optim.SGD(params, lr=learning_rate, momentum=0.9)
            if optimizer == "sgd"
            else torch.optim.Adam(params, lr=learning_rate)
        )
        # NHWC uint8 viewed as NCHW is already channels_last in memory: no copy until the float conversion.
        self.x = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)
        self.y = torch.from_numpy(np.asarray(y, dtype=np.int64))
        self.batch_size = batch_size
        self.augmentation = augmentation

    def epoch(self) -> float:
        """One pass over the data; returns the mean training accuracy (keeps the work honest, as Keras's metric)."""
        self.model.train()
        order = torch.randperm(len(self.y), generator=self.generator)
        correct = torch.zeros((), dtype=torch.int64)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            xb = self.x[rows].float().contiguous(memory_format=torch.channels_last)
            yb = self.y[rows]
            if self.augmentation == "flip_shift":
                xb = flip_shift(xb, self.generator).contiguous(memory_format=torch.channels_last)
            elif self.augmentation is not None:
                raise ValueError(f"no PyTorch version of augmentation {self.augmentation!r}")
            logits = self.model(xb)
            loss = F.cross_entropy(logits, yb)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            correct += (logits.argmax(1) == yb).sum()
        return float(correct) / len(self.y)

    def time_epoch(self) -> float:
        start = time.perf_counter()
        self.epoch()
        return time.perf_counter() - start


def count_params(model: nn.Module) -> int:
    return sum(math.prod(p.shape) for p in model.parameters())
