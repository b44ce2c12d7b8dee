"""The engine's graph rewrites keep every shipped model's outputs, on real image content, and batch."""
import cv2
import numpy as np
import onnxruntime as ort
import pytest
from conftest import DATA, MODELS
from hub_core.engine import OnnxModel

PHOTO = DATA / "images" / "nanodet_bus.jpg"
SHIPPED = sorted(p.name for p in MODELS.glob("*.onnx"))
STAYS_AT_BATCH_1 = {"picodet_s_320_lcnet_pedestrian.onnx"}  # its anchor Concat cannot be rewritten


def real_inputs(shape, n):
    """n different crops of a real photo, resized to the model's input, 0..1 float, in its layout."""
    photo = cv2.imread(str(PHOTO))
    nchw = shape[1] == 3
    h, w = (shape[2], shape[3]) if nchw else (shape[1], shape[2])
    crops = [cv2.resize(photo[40 * i:, 60 * i:], (w, h)).astype(np.float32) / 255 for i in range(n)]
    return np.stack([c.transpose(2, 0, 1) if nchw else c for c in crops])


@pytest.mark.parametrize("name", SHIPPED)
def test_rewritten_graph_matches_the_file_and_batches(name):
    model = OnnxModel(MODELS / name, threads=1)
    plain = ort.InferenceSession(str(MODELS / name), providers=["CPUExecutionProvider"])
    inp = plain.get_inputs()[0]
    x = real_inputs([d if isinstance(d, int) else 1 for d in inp.shape], 3)
    reference = [plain.run(None, {inp.name: x[i:i + 1]}) for i in range(3)]
    got = model(x)
    assert (model.fixed_batch is None) == (name not in STAYS_AT_BATCH_1)
    for k, out in enumerate(got):
        expected = np.concatenate([r[k] for r in reference])
        assert out.shape == expected.shape
        scale = max(1.0, float(np.abs(expected).max()))
        assert np.abs(out - expected).max() <= 1e-4 * scale, f"{name} output {k}"
