"""Write a small image folder to try `tapfinder train --data FOLDER`: one sub-folder per class.

python examples/make_image_folder.py imgs/      # 30 PNGs of each digit, from scikit-learn's set
"""

import sys
from pathlib import Path

from PIL import Image
from sklearn.datasets import load_digits


def main(folder: str, per_class: int = 30) -> None:
    digits = load_digits()
    counts: dict[int, int] = {}
    for image, label in zip(digits.images, digits.target):
        if counts.get(label, 0) >= per_class:
            continue
        counts[label] = counts.get(label, 0) + 1
        out = Path(folder) / str(label)
        out.mkdir(parents=True, exist_ok=True)
        pixels = (image * 255 / 16).astype("uint8")
        Image.fromarray(pixels).convert("RGB").resize((32, 32)).save(
            out / f"{counts[label]:03d}.png"
        )
    print(f"wrote {sum(counts.values())} images in {len(counts)} class folders under {folder}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "imgs")
