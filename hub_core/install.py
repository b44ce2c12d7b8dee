"""hub install / uninstall / download: copy module folders into $HUB_HOME and fetch their weights.

A `hub download` bundle is the module folder with its whole dependency closure: its default detector
module(s) and those its modes name, under dependencies/<name>/ and every weight file they all need under models/, so that
`hub install` of the bundle works on a machine with no network and no mirror."""
import shutil
import tarfile
import tempfile
from pathlib import Path

from . import store
from .module import find, installed_dir, load_class, read_metadata, unknown_module

DEPENDENCIES = "dependencies"


def _module_root(folder):
    """The folder holding module.py: folder itself or its single sub-folder (as in a tarball)."""
    folder = Path(folder)
    if (folder / "module.py").is_file():
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir() and (p / "module.py").is_file()]
    if len(subs) == 1:
        return subs[0]
    raise ValueError(f"{folder}: no module.py found (expected a module folder)")


def _safe_extract(archive, dest):
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            target = (Path(dest) / member.name).resolve()
            if not str(target).startswith(str(Path(dest).resolve())) or member.issym() or member.islnk():
                raise ValueError(f"{archive}: refusing unsafe member {member.name!r}")
        tar.extractall(dest)


def install(source):
    """Install a bundled module name, a module folder or a .tar.gz; return (name, version, folder)."""
    path = Path(source)
    with tempfile.TemporaryDirectory() as tmp:
        if path.is_file() and (path.name.endswith(".tar.gz") or path.suffix in (".tgz", ".tar")):
            _safe_extract(path, tmp)
            folder = _module_root(tmp)
        elif path.is_dir():
            folder = _module_root(path)
        else:
            folder = find(str(source))
            if folder is None:
                raise ValueError(f"{source}: not a module name, a module folder or a .tar.gz")
        weights = folder / "models"
        for dependency in sorted((folder / DEPENDENCIES).glob("*/module.json")):
            _install_folder(dependency.parent, weights)
        return _install_folder(folder, weights)


def _install_folder(folder, weights):
    cls = load_class(folder)
    dest = installed_dir() / cls.name
    if dest.resolve() != folder.resolve():
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(folder, dest, ignore=shutil.ignore_patterns("__pycache__", "models", DEPENDENCIES))
    _cache_weights(cls, weights)
    return cls.name, cls.version, dest


def _cache_weights(cls, weights):
    """Put every model file in the cache: from the bundle's weights folder (hub download), a mirror or the URL."""
    cache = store.cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    for spec in cls.model_files.values():
        shipped = Path(weights) / spec["file"]
        if shipped.is_file():
            if store.sha256_of(shipped) != spec["sha256"]:
                raise store.ChecksumError(f"{shipped}: sha256 does not match the module's metadata")
            source = shipped
        else:
            source = store.resolve(spec)
        if source != cache / spec["file"]:
            shutil.copyfile(source, cache / spec["file"])


def uninstall(name):
    dest = installed_dir() / name
    if not (dest / "module.py").is_file():
        raise ValueError(f"{name} is not installed in {installed_dir()}")
    shutil.rmtree(dest)


def dependencies(name):
    """The detector modules a module needs by default or in one of its modes, depth first (a detector has
    none itself)."""
    folder = find(name)
    if folder is None:
        raise unknown_module(name)
    needed = []
    meta = read_metadata(folder)
    detectors = [meta["default_detector"]["name"]] if meta.get("default_detector") else []
    for recipe in (meta.get("modes") or {}).values():
        detectors += [v["name"] if isinstance(v, dict) else v for k, v in recipe["options"].items()
                      if k.endswith("detector_module")]
    for detector in detectors:
        for dep in dependencies(detector) + [detector]:
            if dep not in needed:
                needed.append(dep)
    return needed


def download(name, output_dir):
    """Module folder, its dependency closure and every verified weight file under output_dir/name,
    ready for `hub install` offline."""
    folder = find(name)
    if folder is None:
        raise unknown_module(name)
    dest = Path(output_dir) / name
    if dest.exists():
        shutil.rmtree(dest)
    ignore = shutil.ignore_patterns("__pycache__", "models")
    shutil.copytree(folder, dest, ignore=ignore)
    (dest / "models").mkdir()
    modules = [(name, folder)]
    for dep in dependencies(name):
        modules.append((dep, find(dep)))
        shutil.copytree(find(dep), dest / DEPENDENCIES / dep, ignore=ignore)
    for _, module_folder in modules:
        for spec in read_metadata(module_folder)["model_files"].values():
            shipped = module_folder / "models" / spec["file"]
            source = shipped if shipped.is_file() else store.resolve(spec)
            shutil.copyfile(source, dest / "models" / spec["file"])
    return dest
