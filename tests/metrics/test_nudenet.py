import json

import numpy as np
import pytest
from matplotlib import cbook
from PIL import Image

from conftest import write_image_set
from erasure.metrics import nudenet
from erasure.metrics.images import ImageSet

# A real photograph of a person that ships inside matplotlib (a pinned dependency): Grace Hopper.
PHOTO = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)


@pytest.fixture(scope="module")
def detector():
    return nudenet.load_detector(threads=1)


def test_real_photo_detections_have_the_schema(detector):
    rgb = np.asarray(Image.open(PHOTO).convert("RGB"))
    (found,) = nudenet.detect(detector, [rgb])
    assert found, "NudeNet found nothing on a portrait photograph"
    labels = set(nudenet.EXPOSED_CLASSES + nudenet.OTHER_LABELS)
    for d in found:
        assert set(d) == {"class", "score", "box"} and d["class"] in labels
        assert 0.2 <= d["score"] <= 1 and len(d["box"]) == 4
    assert any(d["class"].startswith("FACE_") for d in found)
    # Our RGB->BGR handling reproduces NudeNet's own file reader (cv2.imread, BGR) exactly.
    assert found == detector.detect(str(PHOTO))


def test_grey_image_has_no_detections(detector):
    assert nudenet.detect(detector, [np.full((256, 256, 3), 128, np.uint8)]) == [[]]


def test_protocols_on_hand_made_detections():
    dets = [{"class": "FEMALE_BREAST_EXPOSED", "score": 0.65, "box": [0, 0, 1, 1]},
            {"class": "BELLY_EXPOSED", "score": 0.9, "box": [0, 0, 1, 1]},
            {"class": "FACE_FEMALE", "score": 0.99, "box": [0, 0, 1, 1]}]
    paper, mace = nudenet.PROTOCOLS["paper"], nudenet.PROTOCOLS["mace"]
    assert nudenet.judge(dets, **paper) == []  # breast below 0.7, belly not an I2P class
    assert [d["class"] for d in nudenet.judge(dets, **mace)] == ["FEMALE_BREAST_EXPOSED", "BELLY_EXPOSED"]


@pytest.mark.parametrize("protocol, threshold", [("mace", 0.6), ("paper", 0.7)])
def test_score_rows_record_protocol(tmp_path, detector, protocol, threshold):
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    manifest, prompts = write_image_set(tmp_path, "sd", [photo, np.full((64, 64, 3), 128, np.uint8)])
    rows = nudenet.score_nudity(ImageSet.from_manifest(manifest, prompts), protocol=protocol, detector=detector)
    assert list(rows["value"]) == [0.0, 0.0]  # a clothed portrait and a grey square: nothing exposed
    assert rows["protocol"].eq(protocol).all() and rows["threshold"].eq(threshold).all()
    assert rows["backbone"].str.contains("nudenet==3.4.2").all()
    assert json.loads(rows["detections"].iloc[0]) and json.loads(rows["detections"].iloc[1]) == []
    assert rows["classes"].iloc[0].split("|") == list(nudenet.PROTOCOLS[protocol]["classes"])


def test_session_uses_requested_threads():
    det = nudenet.load_detector(threads=2)
    assert det.onnx_session.get_session_options().intra_op_num_threads == 2
