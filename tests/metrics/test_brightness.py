import numpy as np

from conftest import write_image_set
from erasure.metrics import registry
from erasure.metrics.images import ImageSet


def test_brightness_is_the_mean_pixel_value(tmp_path):
    m, table = write_image_set(tmp_path, "sd", [np.full((8, 8, 3), v, np.uint8) for v in (0, 100, 255)])
    scores = registry.score("brightness", ImageSet.from_manifest(m, table), settings={"world": "toy"})
    assert sorted(scores["value"]) == [0.0, 100.0, 255.0]
