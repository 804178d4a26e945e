"""Data sources: image folders, user files, the generated sets, and bad paths."""

import pytest
import torch

from deepsup.data import load_data
from deepsup.shapes_data import CLASSES, make_shapes
from tapfinder import ConfigError


def test_image_folder(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("RGB", (40, 30), color=(i * 40, 10, 200 if cls == "dog" else 0)).save(
                tmp_path / cls / f"{i}.png"
            )
    data = load_data(str(tmp_path), image_size=16)
    x, y = data.train[0]
    assert data.num_classes == 2 and x.shape == (3, 16, 16) and data.input_shape == (3, 16, 16)


def test_a_folder_without_val_holds_images_out_and_never_validates_on_training_images(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    for k, cls in enumerate(("a", "b", "c")):
        (tmp_path / cls).mkdir()
        for i in range(5 * 2**k):  # 5, 10 and 20 images
            Image.new("RGB", (8, 8), color=(k, i, 0)).save(tmp_path / cls / f"{i:02d}.png")
    data = load_data(str(tmp_path), image_size=8)
    files = lambda subset: {subset.dataset.samples[i][0] for i in subset.indices}  # noqa: E731
    assert (
        not files(data.train) & files(data.val) and len(files(data.train) | files(data.val)) == 35
    )
    assert sorted(data.val.dataset.targets[i] for i in data.val.indices) == [
        0,
        1,
        2,
        2,
    ]  # 10 %, at least one
    assert "10 % of each class held out" in data.description and data.num_classes == 3
    (tmp_path / "train").mkdir()
    with pytest.raises(ConfigError, match="has train/ but no val/"):
        load_data(str(tmp_path))


def test_folder_with_one_class_and_bad_paths(tmp_path):
    (tmp_path / "only").mkdir()
    pytest.importorskip("PIL.Image").new("RGB", (8, 8)).save(tmp_path / "only" / "a.png")
    with pytest.raises(ConfigError, match="at least 2"):
        load_data(str(tmp_path))
    with pytest.raises(ConfigError, match="no such built-in set"):
        load_data(str(tmp_path / "missing"))
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(ConfigError, match="give a folder"):
        load_data(str(tmp_path / "x.csv"))


def test_user_data_file_and_its_errors(tmp_path):
    data = load_data("tests/assets/data_file.py")
    assert data.num_classes == 10 and data.task == "classification" and data.input_shape == (1, 32)
    bad = tmp_path / "d.py"
    bad.write_text("x = 1\n")
    with pytest.raises(ConfigError, match="get_datasets"):
        load_data(str(bad))
    loaders = tmp_path / "loaders.py"  # loaders work too: their datasets are used
    loaders.write_text(
        "import torch\nfrom torch.utils.data import DataLoader, TensorDataset\nNUM_CLASSES = 2\n"
        "def get_loaders():\n    d = TensorDataset(torch.randn(6, 1, 8), torch.tensor([0, 1] * "
        "3))\n"
        "    return DataLoader(d, batch_size=2), DataLoader(d, batch_size=2)\n"
    )
    assert load_data(str(loaders)).input_shape == (1, 8)
    single = tmp_path / "single.py"
    single.write_text("NUM_CLASSES = 2\ndef get_datasets():\n    return [(1, 0)] * 3\n")
    with pytest.raises(ConfigError, match=r"must return two things, \(train, val\)"):
        load_data(str(single))


def test_shapes_set_is_deterministic_and_needs_context():
    x1, y1 = make_shapes(8, seed=3)
    x2, y2 = make_shapes(8, seed=3)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.shape == (8, 3, 32, 32) and set(y1.unique().tolist()) <= set(range(len(CLASSES)))
    assert len(y1.unique()) >= 3
