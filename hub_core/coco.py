"""COCO keypoint results export: keypoint_detection() entries -> the list COCOeval.loadRes reads."""
import numpy as np


def to_coco_results(entries, image_ids, category_id=1):
    """[{image_id, category_id, keypoints: [x, y, s] * K, score}] for every instance of every entry.

    image_ids: one COCO image id per entry, in the same order. Keypoint scores are the
    model's (1 where a module has none); the instance score is the entry's 'score' when the
    module gives one, else its box score.
    """
    if len(entries) != len(image_ids):
        raise ValueError(f"{len(entries)} entries for {len(image_ids)} image ids")
    results = []
    for entry, image_id in zip(entries, image_ids):
        for inst in entry.get("instances", []):
            points = np.asarray(inst["keypoints"], np.float64).reshape(-1, 2)
            scores = inst.get("keypoint_scores")
            scores = np.ones(len(points)) if scores is None else np.asarray(scores, np.float64)
            score = inst.get("score", inst.get("box_score", 1.0))
            results.append({"image_id": int(image_id), "category_id": category_id,
                            "keypoints": np.concatenate([points, scores[:, None]], 1).round(3).ravel().tolist(),
                            "score": float(score)})
    return results
