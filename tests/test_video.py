"""Video through hub.infer / `hub run`: frames, JSONL, MP4, track ids, One-Euro smoothing."""
import json
import subprocess

import cv2
import numpy as np
import pytest

import hub_core as hub
from hub_core.video import OneEuroFilter
from conftest import DATA, hub_cmd

PHOTO = DATA / "images" / "linzaer_13.jpg"
FRAMES = 30


@pytest.fixture(scope="module")
def pan_video(tmp_path_factory):
    """30 frames of a crop of a real group photo panning 2 px per frame, at 15 fps."""
    image = cv2.imread(str(PHOTO))
    path = tmp_path_factory.mktemp("video") / "pan.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15, (360, 300))
    for i in range(FRAMES):
        writer.write(np.ascontiguousarray(image[20:320, 2 * i:2 * i + 360]))
    writer.release()
    return path


@pytest.fixture(scope="module")
def face_module():
    return hub.Module(name="face_landmark_localization")


def _tracks(results):
    """track_id -> list of (frame_id, (68, 2) keypoints)."""
    tracks = {}
    for _, entry in results:
        for inst in entry["instances"]:
            tracks.setdefault(inst["track_id"], []).append((entry["frame_id"], np.asarray(inst["keypoints"])))
    return tracks


def test_frames_get_ids_timestamps(pan_video, face_module):
    results = list(hub.infer(face_module, str(pan_video), batch_size=4))
    assert [e["frame_id"] for _, e in results] == list(range(FRAMES))
    assert results[15][1]["timestamp"] == pytest.approx(1.0, abs=1e-3)
    assert all(e["path"] == str(pan_video) for _, e in results)
    assert all(len(e["instances"]) >= 1 and all(len(k) == 68 for k in e["data"]) for _, e in results)


@pytest.mark.parametrize("det_every", [1, 5])
def test_track_ids_are_stable(pan_video, face_module, det_every):
    results = list(hub.infer(face_module, str(pan_video), det_every=det_every))
    tracks = _tracks(results)
    first = {i["track_id"] for i in results[0][1]["instances"]}
    assert first
    for tid in first:  # every face of frame 0 keeps its id in every frame
        assert [f for f, _ in tracks[tid]] == list(range(FRAMES))
        # same face: the 2 px/frame pan moves its landmarks ~2 px/frame, never a jump to another face
        steps = [np.abs(b[1] - a[1]).mean() for a, b in zip(tracks[tid], tracks[tid][1:])]
        assert max(steps) < 8
    ids = [sorted(i["track_id"] for i in e["instances"]) for _, e in results]
    assert all(len(set(x)) == len(x) for x in ids)


def test_det_every_follows_faces(pan_video, face_module):
    every = _tracks(hub.infer(face_module, str(pan_video), det_every=1))
    sparse = _tracks(hub.infer(face_module, str(pan_video), det_every=5))
    for tid in every:
        if len(every[tid]) == FRAMES and tid in sparse and len(sparse[tid]) == FRAMES:
            a, b = np.stack([k for _, k in every[tid]]), np.stack([k for _, k in sparse[tid]])
            size = np.ptp(a[0], axis=0).max()
            assert np.linalg.norm(a - b, axis=2).mean() < 0.1 * size


def test_smoothing_reduces_jitter(pan_video, face_module):
    def jitter(results):
        # the pan is linear, so the second difference of each landmark over time is jitter
        values = []
        for track in _tracks(results).values():
            if len(track) == FRAMES:
                pts = np.stack([k for _, k in track])
                values.append(np.linalg.norm(np.diff(pts, 2, axis=0), axis=2).mean())
        return float(np.mean(values))

    raw = jitter(hub.infer(face_module, str(pan_video)))
    smooth = jitter(hub.infer(face_module, str(pan_video), smooth=True, smooth_min_cutoff=0.5, smooth_beta=0.0))
    assert raw > 0.05 and smooth < 0.7 * raw, (raw, smooth)


def test_one_euro_filter_on_noise():
    rng = np.random.default_rng(0)
    truth = np.linspace(0, 30, 60)[:, None] * np.ones((1, 2))
    noisy = truth + rng.normal(0, 1.0, truth.shape)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    out = np.stack([f(x, t / 30) for t, x in enumerate(noisy)])
    assert np.abs(np.diff(out, 2, axis=0)).mean() < 0.5 * np.abs(np.diff(noisy, 2, axis=0)).mean()


def test_cli_video_writes_jsonl_and_mp4(pan_video, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(hub_cmd() + ["run", "face", "--input_path", str(pan_video), "--output_dir", str(out),
                                       "--visualization", "--det_every", "3", "--smooth"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = (out / "predictions" / "pan.jsonl").read_text().splitlines()
    assert len(lines) == FRAMES
    rows = [json.loads(line) for line in lines]
    assert [r["frame_id"] for r in rows] == list(range(FRAMES))
    assert rows[-1]["timestamp"] == pytest.approx(29 / 15, abs=1e-3)
    assert all("track_id" in i for r in rows for i in r["instances"])
    cap = cv2.VideoCapture(str(out / "visualizations" / "pan.mp4"))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == FRAMES
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(15, abs=0.1)
