"""Modules: folders with a module.py whose class carries metadata; found, loaded, instantiated."""
import importlib.util
import json
import sys
from pathlib import Path

from . import store

REPO_MODULES = Path(__file__).resolve().parents[1] / "modules"


class ModuleBase:
    """Base of every hub module. Subclasses set the metadata below as class attributes.

    model_files: {key: {"file", "sha256", "size", "url" (or None), "origin", "license"}}
    """
    name = None
    version = "1.0.0"
    type = None
    summary = ""
    license = ""
    author = "keypoint-hub"
    model_files = {}

    def __init__(self, model_paths=None):
        self.directory = Path(sys.modules[type(self).__module__].__file__).resolve().parent
        self._model_paths = dict(model_paths or {})
        self._nets = {}

    def net(self, use_gpu=False):
        """The module's network object for this device, built once (ONNX sessions are costly)."""
        if use_gpu not in self._nets:
            self._nets[use_gpu] = self.build_net(use_gpu)
        return self._nets[use_gpu]

    def build_net(self, use_gpu):
        raise NotImplementedError

    def model_path(self, key):
        """Local verified path of one of this module's model files (or an explicit override)."""
        if key in self._model_paths:
            return Path(self._model_paths[key])
        return store.resolve(self.model_files[key])

    @classmethod
    def info(cls):
        return {"name": cls.name, "version": cls.version, "type": cls.type, "summary": cls.summary,
                "license": cls.license, "author": cls.author, "model_files": cls.model_files}


def installed_dir():
    return store.hub_home() / "modules"


def search_dirs():
    """Installed copies first, so `hub install` of a newer version wins over the bundled one."""
    return [installed_dir(), REPO_MODULES]


def find(name):
    for root in search_dirs():
        folder = root / name
        if (folder / "module.py").is_file():
            return folder
    return None


def available():
    """{name: folder} of every module, installed ones shadowing bundled ones."""
    found = {}
    for root in reversed(search_dirs()):
        if root.is_dir():
            for folder in sorted(root.iterdir()):
                if (folder / "module.py").is_file():
                    found[folder.name] = folder
    return dict(sorted(found.items()))


_loaded = {}


def load_class(folder):
    """Import folder/module.py and return its module class (the ModuleBase subclass defined there)."""
    folder = Path(folder).resolve()
    if folder in _loaded:
        return _loaded[folder]
    source = folder / "module.py"
    if not source.is_file():
        raise FileNotFoundError(f"{folder} is not a hub module: no module.py")
    mod_name = f"hub_modules.{folder.name}_{abs(hash(str(folder))) % 10**8}"
    spec = importlib.util.spec_from_file_location(mod_name, source)
    py = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = py
    spec.loader.exec_module(py)
    classes = [c for c in vars(py).values() if isinstance(c, type) and issubclass(c, ModuleBase)
               and c.__module__ == mod_name and c.name]
    if len(classes) != 1:
        raise ImportError(f"{source} must define exactly one module class with a name, found {len(classes)}")
    _loaded[folder] = classes[0]
    return classes[0]


def Module(name=None, directory=None, **kwargs):
    """hub.Module(name=...) or hub.Module(directory=...): an instantiated module.

    directory may also be a folder written by save_inference_model(), which reloads
    the saved model files.
    """
    if (name is None) == (directory is None):
        raise ValueError("give exactly one of name= or directory=")
    if directory is not None:
        directory = Path(directory)
        saved = directory / "inference.json"
        if saved.is_file():
            return _load_saved(directory, json.loads(saved.read_text()), **kwargs)
        return load_class(directory)(**kwargs)
    folder = find(name)
    if folder is None:
        known = ", ".join(available()) or "none"
        raise ValueError(f"unknown module {name!r}; available: {known}")
    return load_class(folder)(**kwargs)


def _load_saved(directory, spec, **kwargs):
    """Rebuild a module from save_inference_model() output, with its saved model files."""
    paths = {k: directory / v for k, v in spec["models"].items()}
    if "detector" in spec:
        det = spec["detector"]
        kwargs.setdefault("detector", Module(name=det["module"], **det.get("thresholds", {}),
                                             model_paths={k: directory / v for k, v in det["models"].items()}))
    return Module(name=spec["module"], model_paths=paths, **{**spec.get("options", {}), **kwargs})
