"""PP-TinyPose 256x192: the top-down pose network with COCO-17 heatmaps at stride 4 and the person box
scaled 1.25 about its centre."""
from .heatmap import DECODES, decode_heatmaps, gaussian_blur  # noqa: F401 - the decoders' former home
from .topdown_pose import TopDownPose

SPEC = {"input": "person box scaled 1.25 about its centre, padded to w:h = 3:4, affine-warped to 192x256 "
                 "(bilinear, black border); RGB, (x/255 - ImageNet mean) / ImageNet std, NCHW float32",
        "output": "heatmaps (1, 17, 64, 48), stride 4, COCO-17 order (the argmax output is unused)",
        "decoding": "argmax per heatmap, refined by DARK (gaussian blur k=11, log, second-order Taylor step) or "
                    "by a 0.25 px shift toward the higher neighbour ('offset'); x4 to crop pixels, inverse "
                    "affine to the image; keypoint score = heatmap max. Optional flip test: heatmaps of the "
                    "mirrored crop flipped back, left/right swapped, shifted 1 px right, averaged."}
PADDING = 1.25


def TinyPose(model_path, flip_pairs, use_gpu=False, threads=None):  # noqa: N802 - reads as the network it builds
    return TopDownPose(model_path, flip_pairs, use_gpu, threads, padding=PADDING)
