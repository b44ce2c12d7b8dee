"""Drawing that scales with the subject: small faces get small dots, close-ups bigger ones; unsure points stay
undrawn by default; tracked instances carry their id."""
import cv2
import numpy as np
import pytest

import hub_core as hub
from hub_core import draw
from conftest import DATA

GROUP = DATA / "images" / "linzaer_1.jpg"  # the README's example: 50-odd small faces
CLOSE_UP = DATA / "face" / "300w_afw" / "images" / "1051618982_1.jpg"


@pytest.fixture(scope="module")
def face():
    return hub.Module(name="face_landmark_localization")


def _first(module, image):
    (_, entry), = hub.infer(module, image)
    return entry


def test_dot_radius_follows_instance_size(face):
    group_image, close_image = cv2.imread(str(GROUP)), cv2.imread(str(CLOSE_UP))
    group, close = _first(face, group_image), _first(face, close_image)
    assert len(group["instances"]) >= 20 and len(close["instances"]) >= 1
    group_radii = [draw.instance_style(i)[0] for i in group["instances"]]
    big = max(close["instances"], key=lambda i: (i["box"][2] - i["box"][0]))
    assert max(group_radii) <= 1 and draw.instance_style(big)[0] >= 3 * max(max(group_radii), 1)
    # The drawn group photo: the faces keep most of their pixels, unlike with dots sized by the image (3 px here).
    def covered(drawn):
        shares = []
        for inst in group["instances"]:
            x1, y1, x2, y2 = (int(round(v)) for v in inst["box"])
            shares.append((np.abs(drawn[y1:y2, x1:x2].astype(int) - group_image[y1:y2, x1:x2]).max(axis=2) > 40).mean())
        return np.median(shares)

    scaled = covered(draw.draw(group_image, group, face.meta, draw_bbox=False))
    assert scaled < 0.4 and covered(draw.draw(group_image, group, face.meta, draw_bbox=False, radius=3, thickness=2)) > 1.5 * scaled
    # The close-up: a dot of the size instance_style gives is painted at each landmark.
    r = draw.instance_style(big)[0]
    canvas = draw.draw(close_image, {"instances": [big]}, face.meta, draw_bbox=False, black_background=True)
    x, y = (int(round(v)) for v in big["keypoints"][30])  # nose tip
    assert (canvas[y - r + 1:y + r, x - r + 1:x + r].max(axis=2) > 0).mean() > 0.8
    # Set by the user, the radius is the same for every instance.
    assert {draw.instance_style(i, radius=5, thickness=2) for i in group["instances"] + close["instances"]} == {(5, 2)}


def test_low_score_keypoints_not_drawn_by_default():
    body = hub.Module(name="human_pose_estimation")
    image = cv2.imread(str(DATA / "body" / "coco_train_mini" / "train2017" / "000000000790.jpg"))
    entry = _first(body, image)
    h, w = image.shape[:2]
    points = [(p, s) for inst in entry["instances"] for p, s in zip(inst["keypoints"], inst["keypoint_scores"])
              if 0 <= round(p[0]) < w and 0 <= round(p[1]) < h]
    low, high = [p for p, s in points if s < 0.3], [p for p, s in points if s >= 0.5]
    assert low and high
    painted = lambda canvas, p: canvas[int(round(p[1])), int(round(p[0]))].max() > 0
    default = draw.draw(image, entry, body.meta, black_background=True, draw_bbox=False)
    everything = draw.draw(image, entry, body.meta, black_background=True, draw_bbox=False, kpt_thr=0)
    assert all(painted(everything, p) for p in low + high)
    assert all(painted(default, p) for p in high)
    # low points are gone, except where a confident point's dot or limb happens to cover them
    assert np.mean([painted(default, p) for p in low]) < 0.5


def test_track_ids_drawn_in_their_own_colour():
    image = np.zeros((200, 300, 3), np.uint8)
    pts = [[60, 60], [80, 60], [70, 90]]
    inst = lambda tid, dx: {"box": [40 + dx, 40, 110 + dx, 120], "box_score": 1.0, "track_id": tid,
                            "keypoints": [[x + dx, y] for x, y in pts], "keypoint_scores": None}
    canvas = draw.draw(image, {"instances": [inst(3, 0), inst(4, 150)]})
    assert draw.track_colour(3) != draw.track_colour(4)
    for tid, dx in ((3, 0), (4, 150)):
        colour = np.array(draw.track_colour(tid))
        label = canvas[10:40, 40 + dx:110 + dx]  # the id is written above the box
        assert (np.abs(label.astype(int) - colour).sum(axis=2) < 60).sum() > 20
