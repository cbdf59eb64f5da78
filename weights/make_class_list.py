"""Write weights/imagenet_classes.txt: the 1000 ImageNet-1k class names, one per
line in class-index order, taken from torchvision's weight metadata
(torchvision.models._meta._IMAGENET_CATEGORIES).

Run from the repo root:  .venv-ref/bin/python weights/make_class_list.py
"""

import os

from torchvision.models._meta import _IMAGENET_CATEGORIES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    names = list(_IMAGENET_CATEGORIES)
    assert len(names) == 1000 and all(n and "\n" not in n for n in names)
    out = os.path.join(ROOT, "weights", "imagenet_classes.txt")
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(names) + "\n")
    print(f"wrote {os.path.relpath(out, ROOT)}: {len(names)} names")


if __name__ == "__main__":
    main()
