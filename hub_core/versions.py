"""The library versions a figure was measured with, recorded in every benchmark and report JSON."""
import platform
from importlib import metadata

LIBRARIES = ("keypoint-hub", "numpy", "onnxruntime", "onnxruntime-gpu", "onnx", "opencv-python-headless",
             "opencv-python", "pycocotools", "torch", "flask", "gunicorn", "ray", "paddlepaddle")


def library_versions():
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found
