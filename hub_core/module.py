"""Modules: folders with their metadata as data (module.json) and their code (module.py).

Listing and showing read module.json only; module.py is imported when a module is instantiated.
"""
import importlib.util
import json
import sys
from pathlib import Path

from . import modes, store
from .errors import HubError
from .names import checked
from .paddle_engine import is_paddle_model

BACKENDS = ("onnxruntime", "paddle")

METADATA_FILE = "module.json"
# Metadata keys every module.json carries; `default_detector` and `aliases` are optional.
REQUIRED_KEYS = ("name", "version", "type", "summary", "license", "model_files")


def bundled_dir():
    """The modules shipped with the package: inside it when installed from a wheel, beside it in a checkout."""
    here = Path(__file__).resolve().parent
    inside = here / "modules"
    return inside if inside.is_dir() else here.parent / "modules"


class ModuleError(HubError, ValueError):
    pass


class ModuleBase:
    """Base of every hub module. Its metadata (module.json) is set on the class when it is loaded:
    name, version, type, summary, license, author, default_detector, aliases and
    model_files {key: {"file", "sha256", "size", "url" (or null), "origin", "license", "converted"}}.
    """
    name = None
    version = "1.0.0"
    type = None
    summary = ""
    license = ""
    author = "keypoint-hub"
    default_detector = None
    aliases = ()
    model_files = {}

    def __init__(self, model_paths=None, backend="onnxruntime"):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.directory = Path(sys.modules[type(self).__module__].__file__).resolve().parent
        self._model_paths = dict(model_paths or {})
        self.backend = backend
        self._nets = {}

    def net(self, use_gpu=False):
        """The module's network object for this device, built once (ONNX sessions are costly)."""
        if use_gpu not in self._nets:
            self._nets[use_gpu] = self.build_net(use_gpu)
        return self._nets[use_gpu]

    def build_net(self, use_gpu):
        raise NotImplementedError

    def source_path(self, key):
        """Local verified path of one of this module's model files (or an explicit override)."""
        if key in self._model_paths:
            return Path(self._model_paths[key])
        return store.resolve(self.model_files[key])

    def model_path(self, key):
        """The file the backend runs: the ONNX file, or its Paddle conversion for backend="paddle"."""
        path = self.source_path(key)
        if is_paddle_model(path) and self.backend != "paddle":
            raise ValueError(f'{path.name} is a Paddle model: load this module with backend="paddle"')
        if self.backend == "paddle" and not is_paddle_model(path):
            from . import paddle_convert  # imported on use: `python -m hub_core.paddle_convert` runs it
            return paddle_convert.cached(path)
        return path

    @classmethod
    def info(cls):
        return dict(cls.metadata)


def read_metadata(folder):
    """module.json of a module folder, checked for the keys every module needs."""
    path = Path(folder) / METADATA_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModuleError(f"{folder} is not a hub module: no {METADATA_FILE}") from None
    except ValueError as e:
        raise ModuleError(f"{path}: not valid JSON ({e})") from None
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise ModuleError(f"{path}: missing {', '.join(missing)}")
    return meta


def installed_dir():
    return store.hub_home() / "modules"


def search_dirs():
    """Installed copies first, so `hub install` of a newer version wins over the bundled one."""
    return [installed_dir(), bundled_dir()]


def is_module_folder(folder):
    return (folder / METADATA_FILE).is_file() and (folder / "module.py").is_file()


def find(name):
    checked("module", name)
    for root in search_dirs():
        folder = root / name
        if is_module_folder(folder):
            return folder
    return None


def available():
    """{name: folder} of every module, installed ones shadowing bundled ones."""
    found = {}
    for root in reversed(search_dirs()):
        if root.is_dir():
            for folder in sorted(root.iterdir()):
                if is_module_folder(folder):
                    found[folder.name] = folder
    return dict(sorted(found.items()))


def unknown_module(name):
    """The error for a name that is no module, with the closest names as suggestions."""
    import difflib
    from .aliases import all_aliases
    known = list(available()) + list(all_aliases())
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else "; see `hub list`"
    return ModuleError(f"unknown module {name!r}{hint}")


_loaded = {}


def load_class(folder):
    """Import folder/module.py and return its module class (the one ModuleBase subclass defined
    there), with the folder's module.json set on it as class attributes."""
    folder = Path(folder).resolve()
    if folder in _loaded:
        return _loaded[folder]
    meta = read_metadata(folder)
    source = folder / "module.py"
    if not source.is_file():
        raise ModuleError(f"{folder} is not a hub module: no module.py")
    mod_name = f"hub_modules.{folder.name}_{abs(hash(str(folder))) % 10**8}"
    spec = importlib.util.spec_from_file_location(mod_name, source)
    py = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = py
    spec.loader.exec_module(py)
    classes = [c for c in vars(py).values() if isinstance(c, type) and issubclass(c, ModuleBase)
               and c.__module__ == mod_name]
    if len(classes) != 1:
        raise ModuleError(f"{source} must define exactly one module class, found {len(classes)}")
    cls = classes[0]
    cls.metadata = meta
    for key, value in meta.items():
        setattr(cls, key, value)
    _loaded[folder] = cls
    return cls


def Module(name=None, directory=None, mode=None, **kwargs):
    """hub.Module(name=...) or hub.Module(directory=...): an instantiated module.

    name may be an alias (face, hand, body, ...). directory may also be a folder written by
    save_inference_model(), which reloads the saved model files.
    mode: "fast", "balanced" or "accurate" for keypoint modules (default: the module's default mode);
    explicit options override the mode's.
    """
    if (name is None) == (directory is None):
        raise ValueError("give exactly one of name= or directory=")
    if directory is not None:
        directory = Path(directory)
        saved = directory / "inference.json"
        if saved.is_file():
            return _load_saved(directory, json.loads(saved.read_text()), mode=mode, **kwargs)
        return _with_mode(directory, mode, kwargs)
    from .aliases import resolve
    folder = find(name) or find(resolve(name))  # aliases read every module.json: only when the name is none
    if folder is None:
        raise unknown_module(name)
    return _with_mode(folder, mode, kwargs)


def _with_mode(folder, mode, kwargs):
    mode, kwargs = modes.options(folder, mode, kwargs)
    module = load_class(folder)(**kwargs)
    module.mode = mode
    return module


def _load_saved(directory, spec, mode=None, **kwargs):
    """Rebuild a module from save_inference_model() output, with its saved model files."""
    paths = {k: directory / v for k, v in spec["models"].items()}
    if spec.get("format") == "paddle":
        kwargs.setdefault("backend", "paddle")
    if "detector" in spec:
        det = spec["detector"]
        kwargs.setdefault("detector", Module(name=det["module"], **det.get("thresholds", {}), **det.get("options", {}),
                                             backend=kwargs.get("backend", "onnxruntime"),
                                             model_paths={k: directory / v for k, v in det["models"].items()}))
    return Module(name=spec["module"], mode=mode or spec.get("mode"), model_paths=paths,
                  **{**spec.get("options", {}), **kwargs})
