"""Tracking against known identities: videos rendered from real annotated photos by a smooth random
camera (pan, zoom, a few degrees of rotation; subjects leave the view and come back), so every frame's
true keypoints and identities are known. Per module and --det_every:

- id_switches_per_100: a subject's track id changing from one matched frame to the next (CLEAR-MOT)
- fragmented_tracks: extra track ids a subject was split into (distinct ids matched to it, minus one)
- fragmentations: a subject's tracking interrupted while it stays in view, then resumed (CLEAR-MOT)
- ghosts_per_100: emitted instances matching no subject (not counting ones on partly visible or
  unannotated people: COCO crowd / few-keypoint annotations, real faces AFW left unannotated (marked by hand
  in SETS), subjects mostly out of the frame: an instance at least half inside such a subject's box, the part
  of its annotated box in the view)
- ghosts_on_subject: of those, the ones whose box is on a subject no other instance matched (IoU >= 0.5 with its
  box in the view): a real person or face the pipeline posed too badly to match (OKS < 0.3 / NME > 0.5), not an
  extra instance; counted as ghosts all the same
- idf1: 2 IDTP / (true + emitted instances), IDTP from the best one-to-one subject <-> track pairing
- mean_oks (bodies) / mean_nme (faces, inter-ocular) of the matched instances against the truth
- jitter: mean |predicted frame-to-frame motion - true motion| per keypoint, in % of the subject's size
  (sqrt of its area for bodies, inter-ocular distance for faces); true_motion gives the scale of it
- fps: frames / s through hub.infer, video decoding included

An emitted instance matches a subject at OKS >= 0.3 (bodies) or NME <= 0.5 (faces); one-to-one per frame.
The photos were chosen so the pipeline finds their annotated people / faces on the still image; it also finds
a few things that are no subject (a face on clasped hands in 1648807314, a box spanning a surfer and the
board behind him in 211325): those count as ghosts, as they would in any video.

    python benchmarks/tracking.py [--modules body face] [--det_every 1 5] [--frames 150] [--seeds 0 1] \
        [--tag after] [--out benchmarks/results/tracking.json]
"""
import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))

from hub_core.camera_motion import warp_points  # noqa: E402
from hub_core.tracking import area, assign, iou_matrix  # noqa: E402
from hub_core.versions import library_versions  # noqa: E402

COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10
SETS = {
    "body": {"module": "human_pose_estimation", "view": (480, 320), "min_points": 5, "threshold": 0.3,
             "ann": DATA / "body" / "coco_train_mini" / "annotations" / "person_keypoints_train2017.json",
             "images": DATA / "body" / "coco_train_mini" / "train2017",
             "photos": ["000000000790.jpg", "000000442450.jpg", "000000211325.jpg", "000000129648.jpg"]},
    "face": {"module": "face_landmark_localization", "view": (512, 384), "min_points": 55, "threshold": 0.5,
             "ann": DATA / "face" / "300w_afw" / "annotations_68pt_coco.json",
             "images": DATA / "face" / "300w_afw",
             "photos": ["images/2086996835_1.jpg", "images/5106695994_1.jpg", "images/79378097_1.jpg",
                        "images/1648807314_1.jpg"],
             "unannotated": {"images/1648807314_1.jpg": [[745, 215, 792, 272]]}},  # the capped man behind
}


# --- the truth --------------------------------------------------------------------------

def load_photo(kind, file_name):
    """image, subjects' keypoints (S, K, 2), labelled (S, K), areas (S,), boxes (S, 4) and ignore boxes (I, 4),
    xyxy."""
    spec = SETS[kind]
    data = json.loads(Path(spec["ann"]).read_text())
    image_id = next(im["id"] for im in data["images"] if im["file_name"] == file_name)
    anns = [a for a in data["annotations"] if a["image_id"] == image_id]
    subjects = [a for a in anns if a["num_keypoints"] >= 8 and not a.get("iscrowd")]
    ignore = [a for a in anns if a not in subjects]
    kpts = np.array([a["keypoints"] for a in subjects], np.float64).reshape(len(subjects), -1, 3)
    areas = np.array([a["area"] if kind == "body" else a["bbox"][2] * a["bbox"][3] for a in subjects], np.float64)
    xyxy = lambda some: np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                                  for a in some], np.float64).reshape(-1, 4)
    ignore = np.concatenate([xyxy(ignore), np.reshape(spec.get("unannotated", {}).get(file_name, []), (-1, 4))])
    image = cv2.imread(str(Path(spec["images"]) / file_name))
    return image, kpts[..., :2], kpts[..., 2] > 0, areas, xyxy(subjects), ignore


def camera(frames, source_size, view_size, seed, key_every=50, max_degrees=4.0):
    """(frames, 2, 3) affines source -> frame: the view's centre swings between the photo's left and right
    (so subjects at the edges leave and come back), zooms by up to 1.3x, tilts a few degrees, all eased
    between random key poses."""
    rng = np.random.default_rng(seed)
    (W, H), (w, h) = source_size, view_size
    base_zoom = w / (0.6 * W)
    keys = frames // key_every + 2
    side = np.where(np.arange(keys) % 2 == rng.integers(2), rng.uniform(0.15, 0.3, keys), rng.uniform(0.7, 0.85, keys))
    poses = np.stack([side * W, rng.uniform(0.4, 0.6, keys) * H, base_zoom * rng.uniform(0.85, 1.3, keys),
                      np.radians(rng.uniform(-max_degrees, max_degrees, keys))], 1)
    t = np.arange(frames) / key_every
    i, f = t.astype(int), t % 1
    ease = (1 - np.cos(np.pi * f)) / 2
    cx, cy, zoom, angle = (poses[i] * (1 - ease)[:, None] + poses[i + 1] * ease[:, None]).T
    cos, sin = zoom * np.cos(angle), zoom * np.sin(angle)
    tx = w / 2 - (cos * cx - sin * cy)
    ty = h / 2 - (sin * cx + cos * cy)
    return np.stack([np.stack([cos, -sin, tx], 1), np.stack([sin, cos, ty], 1)], 1)


def render(kind, file_name, frames, seed, path, fps=25):
    """Write the video to path; return its truth: per frame keypoints (F, S, K, 2), in-view labelled
    points (F, S, K), areas (F, S), the subjects' boxes clipped to the view (F, S, 4), ignore boxes per frame."""
    image, kpts, labelled, areas, boxes, ignore = load_photo(kind, file_name)
    view = SETS[kind]["view"]
    affines = camera(frames, image.shape[1::-1], view, seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, view)
    truth = {"keypoints": [], "visible": [], "areas": [], "boxes": [], "ignore": [], "fps": fps}
    corners = lambda b: b[:, [[0, 1], [2, 1], [2, 3], [0, 3]]]
    for affine in affines:
        writer.write(cv2.warpAffine(image, affine, view, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT))
        pts = warp_points(affine, kpts)
        inside = (pts[..., 0] >= 0) & (pts[..., 0] < view[0]) & (pts[..., 1] >= 0) & (pts[..., 1] < view[1])
        warped = warp_points(affine, corners(ignore)) if len(ignore) else np.zeros((0, 4, 2))
        subject = warp_points(affine, corners(boxes))
        truth["keypoints"].append(pts)
        truth["visible"].append(inside & labelled)
        truth["areas"].append(areas * np.linalg.det(affine[:, :2]))
        truth["boxes"].append(np.clip(np.concatenate([subject.min(1), subject.max(1)], 1), 0, np.tile(view, 2)))
        truth["ignore"].append(np.concatenate([warped.min(1), warped.max(1)], 1))
    writer.release()
    return truth


# --- scoring ----------------------------------------------------------------------------

def similarity(kind, pred, truth, visible, area):
    """OKS (bodies) or 1 - NME (faces) of one prediction (K, 2) against one subject's visible truth."""
    d = np.linalg.norm(pred - truth, axis=-1)[visible]
    if kind == "body":
        e = d ** 2 / (2 * (2 * COCO_SIGMAS[visible]) ** 2 * (area + np.spacing(1)))
        return float(np.exp(-e).mean())
    return 1.0 - float(d.mean() / np.linalg.norm(truth[36] - truth[45]))


def _overlaps(box, regions, min_cover=0.5):
    """box covered by one of regions for at least min_cover of its own area."""
    if not len(regions):
        return False
    lt, rb = np.maximum(box[:2], regions[:, :2]), np.minimum(box[2:], regions[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), 1)
    return bool((inter >= min_cover * max(np.prod(box[2:] - box[:2]), 1e-9)).any())


def score(kind, truth, entries):
    """The metrics of one video: truth from render(), entries from hub.infer in frame order."""
    spec = SETS[kind]
    thr, min_points = spec["threshold"], spec["min_points"]
    counts = defaultdict(float)
    pair_frames = defaultdict(int)          # (subject, track) -> frames where they match
    last_track, tracked_before, ids_of = {}, {}, defaultdict(set)
    quality, jitter, motion, previous = [], [], [], {}
    for f, entry in enumerate(entries):
        pts, vis, areas = truth["keypoints"][f], truth["visible"][f], truth["areas"][f]
        present = vis.sum(1) >= min_points
        partial = (area(truth["boxes"][f]) > 0) & ~present   # in the view, but too little of it to count
        preds = [inst for inst in entry.get("instances", [])]
        sims = np.array([[similarity(kind, np.asarray(p["keypoints"]), pts[s], vis[s], areas[s]) if vis[s].any() else -1
                          for s in range(len(pts))] for p in preds]).reshape(len(preds), len(pts))
        rows, cols = assign(np.where(sims >= thr, -sims, np.inf))
        matched = dict(zip(rows.tolist(), cols.tolist()))
        emitted = 0
        for p, inst in enumerate(preds):
            s = matched.get(p)
            if s is not None and partial[s]:
                continue
            if s is None:
                if _overlaps(np.asarray(inst["box"][:4], float), np.concatenate([truth["ignore"][f], truth["boxes"][f][partial]])):
                    continue
                counts["ghosts"] += 1
                free = np.flatnonzero(present & ~np.isin(np.arange(len(pts)), list(matched.values())))
                if len(free) and iou_matrix(np.asarray(inst["box"][:4], float)[None], truth["boxes"][f][free]).max() >= 0.5:
                    counts["ghosts_on_subject"] += 1
            emitted += 1
            for q in np.flatnonzero(present & (sims[p] >= thr)):
                pair_frames[(int(q), inst.get("track_id"))] += 1
        counts["emitted"] += emitted
        counts["subject_frames"] += int(present.sum())
        now = {}
        for p, s in matched.items():
            if not present[s]:
                continue
            tid = preds[p].get("track_id")
            counts["matched"] += 1
            quality.append(sims[p, s])
            if s in last_track and last_track[s] != tid:
                counts["id_switches"] += 1
            last_track[s] = tid
            ids_of[s].add(tid)
            now[s] = (tid, np.asarray(preds[p]["keypoints"], np.float64))
            if tid is not None and previous.get(s, (None,))[0] == tid:
                both = vis[s] & truth["visible"][f - 1][s]
                if both.any():
                    size = np.sqrt(areas[s]) if kind == "body" else np.linalg.norm(pts[s][36] - pts[s][45])
                    true_step = pts[s] - truth["keypoints"][f - 1][s]
                    err = np.linalg.norm(now[s][1] - previous[s][1] - true_step, axis=1)[both]
                    jitter.append(100 * err.mean() / size)
                    motion.append(100 * np.linalg.norm(true_step, axis=1)[both].mean() / size)
        for s in np.flatnonzero(present):
            if s in now:
                if tracked_before.get(s) == "lost":
                    counts["fragmentations"] += 1
                tracked_before[s] = "tracked"
            elif s in tracked_before:
                tracked_before[s] = "lost"
        previous = now
    subjects = sorted({s for s, _ in pair_frames})
    tracks = sorted({t for _, t in pair_frames}, key=str)
    gain = np.array([[pair_frames.get((s, t), 0) for t in tracks] for s in subjects], float).reshape(len(subjects), len(tracks))
    rows, cols = assign(-gain)
    idtp = float(gain[rows, cols].sum())
    counts["frames"] = len(entries)
    counts["fragmented_tracks"] = float(sum(len(ids) - 1 for ids in ids_of.values()))
    return {"counts": dict(counts), "idtp": idtp, "quality": quality, "jitter": jitter, "motion": motion}


def summarise(kind, parts, seconds):
    c = defaultdict(float)
    for part in parts:
        for k, v in part["counts"].items():
            c[k] += v
    idtp = sum(p["idtp"] for p in parts)
    quality = np.concatenate([p["quality"] for p in parts]) if parts else np.zeros(0)
    per100 = 100.0 / max(c["frames"], 1)
    out = {"frames": int(c["frames"]), "subject_frames": int(c["subject_frames"]), "emitted": int(c["emitted"]),
           "recall": round(c["matched"] / max(c["subject_frames"], 1), 4),
           "id_switches": int(c["id_switches"]), "id_switches_per_100": round(c["id_switches"] * per100, 2),
           "fragmented_tracks": int(c["fragmented_tracks"]), "fragmentations": int(c["fragmentations"]),
           "ghosts": int(c["ghosts"]), "ghosts_per_100": round(c["ghosts"] * per100, 2),
           "ghosts_on_subject": int(c["ghosts_on_subject"]),
           "idf1": round(2 * idtp / max(c["subject_frames"] + c["emitted"], 1), 4)}
    if kind == "body":
        out["mean_oks"] = round(float(quality.mean()), 4)
    else:
        out["mean_nme_pct"] = round(100 * float(1 - quality.mean()), 3)
    out["jitter_pct"] = round(float(np.mean(np.concatenate([p["jitter"] for p in parts]))), 3)
    out["true_motion_pct"] = round(float(np.mean(np.concatenate([p["motion"] for p in parts]))), 3)
    out["fps"] = round(c["frames"] / seconds, 2)
    return out


def run(kind, det_every, frames, seeds, smooth=False, module=None):
    import hub_core as hub

    module = module or hub.Module(name=SETS[kind]["module"])
    parts, seconds = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for photo in SETS[kind]["photos"]:
            for seed in seeds:
                path = Path(tmp) / f"{Path(photo).stem}_{seed}.mp4"
                truth = render(kind, photo, frames, seed, path)
                start = time.perf_counter()
                entries = [e for _, e in hub.infer(module, str(path), det_every=det_every, smooth=smooth)]
                seconds += time.perf_counter() - start
                parts.append(score(kind, truth, entries))
    return summarise(kind, parts, seconds)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modules", nargs="+", choices=list(SETS), default=list(SETS))
    ap.add_argument("--det_every", nargs="+", type=int, default=[1, 5])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--smooth", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="HUB_NUM_THREADS (default: the hub's own)")
    ap.add_argument("--tag", default=None, help="a label stored in the report (e.g. before / after)")
    ap.add_argument("--out", default="benchmarks/results/tracking.json")
    args = ap.parse_args(argv)
    if args.threads:
        os.environ["HUB_NUM_THREADS"] = str(args.threads)
    report = {"tag": args.tag, "frames_per_video": args.frames, "seeds": args.seeds, "smooth": args.smooth,
              "photos": {k: SETS[k]["photos"] for k in args.modules}, "versions": library_versions(), "results": {}}
    for kind in args.modules:
        for n in args.det_every:
            result = run(kind, n, args.frames, args.seeds, args.smooth)
            report["results"][f"{kind}_det_every_{n}"] = result
            print(kind, f"det_every={n}", json.dumps(result), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"report written to {args.out}")


if __name__ == "__main__":
    main()
