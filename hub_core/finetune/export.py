"""ONNX export of a trained model and the installable module folder `hub finetune` writes around it."""
import json
import re
from pathlib import Path

import numpy as np
import torch

from .. import store
from ..modes import TOP_DOWN_MODES
from .runtime import ANIMAL_CLASSES

MODULE_TEMPLATE = '''"""{summary}"""
from hub_core.keypoint import KeypointModule


class {class_name}(KeypointModule):
    crop_padding = {padding!r}
'''


def export_onnx(model, path, size):
    """torch -> ONNX (opset 17, dynamic batch): input 'image' (N, 3, H, W), output 'heatmaps' (N, K, H/s, W/s).
    Returns the largest absolute difference between torch and ONNX Runtime on a random batch of 2."""
    import onnxruntime as ort
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    dummy = torch.zeros(1, 3, size[1], size[0])
    torch.onnx.export(model, (dummy,), str(path), input_names=["image"], output_names=["heatmaps"],
                      opset_version=17, dynamic_axes={"image": {0: "batch"}, "heatmaps": {0: "batch"}},
                      do_constant_folding=True, dynamo=False)
    x = np.random.default_rng(0).standard_normal((2, 3, size[1], size[0])).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    return float(np.abs(got - expected).max())


def class_name(name):
    return "".join(part.capitalize() for part in re.split(r"[^0-9a-zA-Z]+", name) if part) or "Finetuned"


def write_module(folder, name, meta, onnx_path, detector, padding, card, license_text, summary):
    """module.py (from the template), keypoints.json, models/<name>.onnx, README.md model card."""
    folder = Path(folder)
    onnx_path = Path(onnx_path)
    spec = {"file": onnx_path.name, "sha256": store.sha256_of(onnx_path), "size": onnx_path.stat().st_size,
            "url": None, "converted": False, "origin": f"hub finetune ({folder.name}/models/{onnx_path.name})", "license": license_text}
    (folder / "module.py").write_text(MODULE_TEMPLATE.format(summary=summary, class_name=class_name(name),
                                                             padding=float(padding)))
    default_detector = {"name": detector}
    if detector == "yolox_nano_coco":
        default_detector["classes"] = ANIMAL_CLASSES
    metadata = {"name": name, "version": "1.0.0", "type": "keypoint_detection", "summary": summary,
                "license": license_text, "author": "hub finetune", "default_detector": default_detector,
                "aliases": [], "model_files": {"keypoint": spec}, "default_mode": "balanced", "modes": TOP_DOWN_MODES}
    (folder / "module.json").write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n")
    (folder / "keypoints.json").write_text(json.dumps(meta, indent=1) + "\n")
    (folder / "README.md").write_text(card)
    return spec


def model_card(name, meta, spec, data, recipe, history, best, max_diff, detector):
    """The README.md of a fine-tuned module: data, recipe, validation figures per epoch, model file."""
    rows = "\n".join(f"| {h['epoch']} | {h['train_loss']} | {h.get('rmse_px', '-')} | {h.get('mean_error_px', '-')} | "
                     f"{h.get('pck@0.1', '-')} | {h.get('pck@0.2', '-')} | {h['seconds']} |" for h in history)
    names = ", ".join(meta["keypoints"])
    best_line = (f"Best epoch {best['epoch']} (lowest validation RMSE), kept and exported: RMSE {best['rmse_px']} px, "
                 f"mean error {best['mean_error_px']} px, PCK@0.1 {best['pck@0.1']}, PCK@0.2 {best['pck@0.2']}."
                 if "rmse_px" in best else f"No validation split: the last epoch ({best['epoch']}) is exported.")
    return f"""# {name}

Top-down keypoint module written by `hub finetune`: {len(meta['keypoints'])} keypoints ({names}).
Detector: `{detector}`; keypoint network: {recipe['network']}.

```python
import hub_core as hub
m = hub.Module(name="{name}")            # after `hub install <this folder>`
m.keypoint_detection(paths=["frame.png"], visualization=True)
```
CLI: `hub run {name} --input_path frame.png`.

## Data
- Annotations: `{data['ann']}` ({data['format']}), images `{data['images']}`.
- {data['instances']} labelled instances in {data['frames']} images; split by image with seed {recipe['seed']}:
  {data['train']} training / {data['val']} validation instances.
- Crop: {data['crop_text']}

## Recipe
| setting | value |
|---|---|
""" + "\n".join(f"| {k} | {v} |" for k, v in recipe.items()) + f"""

## Validation (each epoch; PCK normalised by the longer side of the labelled points' tight box)
| epoch | train loss | RMSE px | mean error px | PCK@0.1 | PCK@0.2 | seconds |
|---|---|---|---|---|---|---|
{rows}

{best_line}

## Model
- `models/{spec['file']}`, sha256 `{spec['sha256']}`, {spec['size']} bytes; input `image` (N, 3, {recipe['input_size'].split('x')[1]}, {recipe['input_size'].split('x')[0]}) RGB,
  (x/255 - ImageNet mean) / ImageNet std; output `heatmaps` (N, K, H/4, W/4), decoded by argmax + DARK.
- ONNX export: torch.onnx.export, opset 17, dynamic batch; largest |torch - ONNX Runtime| on a random batch: {max_diff:.2e}.
- Licence: {spec['license']}
"""
