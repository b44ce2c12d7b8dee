"""keypoint-hub: a PaddleHub-style hub of keypoint detection modules.

    import hub_core as hub
    face = hub.Module(name="face_landmark_localization")
    face.keypoint_detection(paths=["photo.jpg"])
"""
from .errors import HubError
from .images import ImageError
from .infer import infer
from .keypoint import RESULT_SCHEMA_VERSION
from .module import Module, available as list_modules

__version__ = "0.2.0"
__all__ = ["Module", "infer", "list_modules", "HubError", "ImageError", "RESULT_SCHEMA_VERSION", "__version__"]
