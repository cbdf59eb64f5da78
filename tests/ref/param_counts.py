"""Print the parameter counts (1000 classes) of the PyTorch model code that
tests/test_model.c asserts: efficientnet-pytorch 0.7.1 for B0..B7 and
efficientnet-lite-pytorch 0.1.0 for Lite0..Lite4 (tests/ref/requirements.txt).

    .venv-ref/bin/python tests/ref/param_counts.py
"""

from efficientnet_lite_pytorch import EfficientNet as Lite
from efficientnet_pytorch import EfficientNet as B


def count(model):
    return sum(p.numel() for p in model.parameters())


for i in range(8):
    print(f"b{i} {count(B.from_name(f'efficientnet-b{i}'))}")
for i in range(5):
    print(f"lite{i} {count(Lite.from_name(f'efficientnet-lite{i}'))}")
