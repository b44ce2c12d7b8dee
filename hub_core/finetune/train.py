"""The training loop: heatmap MSE on augmented crops, validation PCK / RMSE each epoch, best epoch kept."""
import copy
import math
import time

import numpy as np
import torch
from tqdm import tqdm

from .. import metrics
from ..engine import default_threads
from ..geometry import apply_affine, invert_affine
from ..nets.heatmap import decode_heatmaps
from .data import Augment, make_batch
from .model import OnnxHeatmapNet


def predict(model, samples, images, indices, size, padding, stride, device, batch_size=16):
    """(N, K, 2) image-pixel keypoints of the samples (DARK decoding, as the runtime)."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            x, _, _, transforms = make_batch(samples, images, chunk, size, padding, stride)
            maps = model(torch.from_numpy(x).to(device)).cpu().numpy()
            points, _ = decode_heatmaps(maps, "dark")
            points = points * stride
            out.extend(apply_affine(p, invert_affine(m)) for p, m in zip(points, transforms))
    return np.asarray(out, np.float64)


def scores(pred, samples, indices):
    """Validation figures: RMSE and mean error (px), PCK@0.1 / @0.2 normalised by the longer side of the
    tight box of the labelled points (METRICS.md PCK with that box)."""
    gt = np.asarray([samples[i]["keypoints"] for i in indices], np.float64)
    vis = np.asarray([samples[i]["visible"] for i in indices], bool)
    dist = metrics.distances(pred, gt)
    norm = metrics.bbox_norm([metrics.box_of_points(g, v) for g, v in zip(gt, vis)])
    return {"rmse_px": round(float(np.sqrt((dist[vis] ** 2).mean())), 3),
            "mean_error_px": round(metrics.epe(dist, vis), 3),
            "pck@0.1": round(metrics.pck(dist, vis, norm, 0.1), 4),
            "pck@0.2": round(metrics.pck(dist, vis, norm, 0.2), 4)}


def train(samples, images, meta, base_onnx, train_idx, val_idx, size=(256, 192), padding=1.0, pretrained=True,
          epochs=30, batch_size=8, lr=1e-3, seed=0, rotation=30.0, scale=0.25, sigma=2.0, use_gpu=False,
          progress=True, log=print):
    """Train; returns (model on CPU with the best epoch's weights, history list, best entry)."""
    if size[0] % 32 or size[1] % 32:
        raise ValueError(f"input size {size[0]}x{size[1]}: width and height must be multiples of 32")
    if use_gpu and not torch.cuda.is_available():
        raise RuntimeError("--use_gpu given but this torch has no CUDA device")
    device = torch.device("cuda" if use_gpu else "cpu")
    torch.set_num_threads(default_threads())
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    k = len(meta["keypoints"])
    model = OnnxHeatmapNet(base_onnx, k, pretrained, seed).to(device)
    with torch.no_grad():
        stride = size[0] // model(torch.zeros(1, 3, size[1], size[0], device=device)).shape[-1]
    if not pretrained:
        x, _, _, _ = make_batch(samples, images, list(train_idx[:batch_size]), size, padding, stride)
        model.unit_variance_init(torch.from_numpy(x).to(device))
    augment = Augment(meta.get("flip_pairs", []), k, scale=scale, rotation=rotation)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(train_idx) / batch_size)
    total, warmup = epochs * steps_per_epoch, min(steps_per_epoch * 2, epochs * steps_per_epoch // 5 + 1)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda t: min(1.0, (t + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(t, total) / total)))
    history, best, best_state = [], None, None
    for epoch in range(1, epochs + 1):
        model.train()
        started, losses = time.perf_counter(), []
        order = rng.permutation(train_idx)
        with tqdm(total=len(order), desc=f"epoch {epoch}/{epochs}", unit="img", disable=not progress,
                  leave=False) as bar:
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size].tolist()
                x, target, weight, _ = make_batch(samples, images, chunk, size, padding, stride, sigma, augment, rng)
                out = model(torch.from_numpy(x).to(device))
                # MMPose KeypointMSELoss with target weights; x1000 keeps the gradients out of float noise.
                loss = (((out - torch.from_numpy(target).to(device)) ** 2).mean((2, 3))
                        * torch.from_numpy(weight).to(device)).mean() * 1000
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
                losses.append(loss.item())
                bar.update(len(chunk))
                bar.set_postfix(loss=f"{np.mean(losses):.3f}")
        entry = {"epoch": epoch, "train_loss": round(float(np.mean(losses)), 4),
                 "seconds": round(time.perf_counter() - started, 1)}
        if val_idx:
            entry.update(scores(predict(model, samples, images, val_idx, size, padding, stride, device),
                                samples, val_idx))
        history.append(entry)
        log("  ".join(f"{key} {value}" for key, value in entry.items()))
        if best is None or not val_idx or entry["rmse_px"] <= best["rmse_px"]:
            best, best_state = entry, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.stride = stride
    return model.cpu().eval(), history, best
