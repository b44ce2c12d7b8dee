"""Accuracy modes: each keypoint module names a few fixed recipes ("fast", "balanced", "accurate") as data,
constructor options that hub.Module(name=..., mode=...) applies under the caller's own options.

The recipes live in the module's module.json: "default_mode" and "modes": {"fast": {"about": "...",
"options": {...}}, ...}. A detector option may be a dict {"name": ..., other constructor options}: that
detector module is built.
"""
import json
from pathlib import Path

from .errors import HubError

MODES = ("fast", "balanced", "accurate")


class ModeError(HubError, ValueError):
    pass


MODE_HELP = "accuracy mode: fast, balanced or accurate (default: the module's default, balanced); explicit options win"


# The modes `hub finetune` writes into a new module's module.json (the same as animal_pose_estimation's).
TOP_DOWN_MODES = {
    "fast": {"about": "the keypoint model once per box, DARK decoding: the same as balanced (offset decoding measured "
                      "no faster and less accurate; nothing cheaper to drop)",
             "options": {"decode": "dark", "flip_test": False}},
    "balanced": {"about": "the keypoint model once per box, DARK decoding",
                 "options": {"decode": "dark", "flip_test": False}},
    "accurate": {"about": "heatmaps averaged with those of the mirrored crop (flip pairs from the keypoint meta), "
                          "DARK decoding", "options": {"decode": "dark", "flip_test": True}},
}


def recipes(folder):
    """{"default": name, "modes": {name: {"options": {...}, "about": str, ...}}} of a module folder, or None."""
    manifest = Path(folder) / "module.json"
    data = json.loads(manifest.read_text()) if manifest.is_file() else {}
    return {"default": data.get("default_mode", "balanced"), "modes": data["modes"]} if "modes" in data else None


def options(folder, mode, explicit):
    """(mode name or None, constructor kwargs): the mode's recipe, overridden by the explicit kwargs."""
    table = recipes(folder)
    if table is None:
        if mode is not None:
            raise ModeError(f"module {Path(folder).name!r} has no modes; mode={mode!r} does not apply")
        return None, dict(explicit)
    mode = mode or table["default"]
    if mode not in table["modes"]:
        raise ModeError(f"mode must be one of {list(table['modes'])}, got {mode!r}")
    recipe = table["modes"][mode]["options"]
    if any(key.endswith("detector") or key.endswith("detector_module") for key in explicit):
        recipe = {k: v for k, v in recipe.items() if not k.endswith("detector_module")}  # the caller's detector wins
    merged = {**recipe, **explicit}
    shared = {k: explicit[k] for k in ("threads", "backend") if explicit.get(k)}  # the detector runs like its module
    for key, value in merged.items():
        if key.endswith("detector_module") and isinstance(value, dict):
            from .module import Module
            merged[key] = Module(**{**shared, **value})
    return mode, merged
