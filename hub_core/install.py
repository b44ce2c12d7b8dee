"""hub install / uninstall / download: copy module folders into $HUB_HOME and fetch their weights.

A `hub download` bundle is the module folder with its whole dependency closure: its default detector
module(s) and those its modes name, under dependencies/<name>/ and every weight file they all need under models/, so that
`hub install` of the bundle works on a machine with no network and no mirror.

Installing a module folder or tarball imports its module.py, which runs its Python code (as pip does for
a package): install only modules you trust. An install is staged in a hidden folder beside the installed
modules and renamed into place under a lock, so a failed install leaves the previous state and
concurrent installs of one module follow each other.
"""
import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from . import store
from .errors import HubError
from .filelock import locked
from .module import find, installed_dir, load_class, read_metadata, unknown_module
from .names import checked

DEPENDENCIES = "dependencies"


class UnsafeArchive(HubError, ValueError):
    pass


def _module_root(folder):
    """The folder holding module.py: folder itself or its single sub-folder (as in a tarball)."""
    folder = Path(folder)
    if (folder / "module.py").is_file():
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir() and (p / "module.py").is_file()]
    if len(subs) == 1:
        return subs[0]
    raise ValueError(f"{folder}: no module.py found (expected a module folder)")


def _checked_member(member, dest, archive):
    """Python's `data` filter semantics: plain files and folders only, inside dest, ordinary permissions."""
    def refuse(why):
        raise UnsafeArchive(f"{archive}: refusing member {member.name!r}: {why}")
    if not (member.isreg() or member.isdir()):
        refuse("links, devices and FIFOs are not allowed in a module archive")
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        refuse("absolute and '..' paths are not allowed")
    if not (dest / member.name).resolve().is_relative_to(dest.resolve()):
        refuse("it would land outside the destination")
    if hasattr(tarfile, "data_filter"):  # Python 3.8.17+ / 3.11.4+: the standard library's own checks
        try:
            member = tarfile.data_filter(member, str(dest))
        except tarfile.FilterError as e:
            refuse(str(e))
    member.mode = 0o755 if member.isdir() or member.mode & 0o100 else 0o644
    return member


def _safe_extract(archive, dest):
    dest = Path(dest)
    with tarfile.open(archive) as tar:
        members = [_checked_member(m, dest, archive) for m in tar.getmembers()]
        for member in members:
            tar.extract(member, dest, set_attrs=False)
            if member.isreg():
                os.chmod(dest / member.name, member.mode)


def _source_folder(source, tmp):
    path = Path(source)
    if path.is_file() and (path.name.endswith(".tar.gz") or path.suffix in (".tgz", ".tar")):
        _safe_extract(path, tmp)
        return _module_root(tmp)
    if path.is_dir():
        return _module_root(path)
    folder = find(str(source))  # find() checks the name
    if folder is None:
        raise ValueError(f"{source}: not a module name, a module folder or a .tar.gz")
    return folder


def install(source):
    """Install a bundled module name, a module folder or a .tar.gz; return (name, version, folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = _source_folder(source, tmp)
        weights = folder / "models"
        for dependency in sorted((folder / DEPENDENCIES).glob("*/module.json")):
            _install_folder(dependency.parent, weights)
        return _install_folder(folder, weights)


def _install_folder(folder, weights):
    cls = load_class(folder)
    name = checked("module", cls.name)
    for spec in cls.model_files.values():
        checked("model file", spec["file"])
    root = installed_dir()
    dest = root / name
    if dest.resolve() == folder.resolve():
        _cache_weights(cls, weights)
        return name, cls.version, dest
    root.mkdir(parents=True, exist_ok=True)
    with locked(store.hub_home() / "locks" / f"module-{name}.lock"):
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.installing-", dir=root))
        try:
            staged = staging / name
            shutil.copytree(folder, staged, ignore=shutil.ignore_patterns("__pycache__", "models", DEPENDENCIES))
            _cache_weights(cls, weights)
            _swap_into_place(staged, dest, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return name, cls.version, dest


def _swap_into_place(staged, dest, staging):
    """Rename staged to dest; an existing dest is moved aside first and removed after."""
    if dest.exists():
        os.rename(dest, staging / "previous")
    os.rename(staged, dest)


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
            store._copy_atomically(source, cache / spec["file"])


def uninstall(name):
    dest = installed_dir() / checked("module", name)
    with locked(store.hub_home() / "locks" / f"module-{name}.lock"):
        if not (dest / "module.py").is_file():
            raise ValueError(f"{name} is not installed in {installed_dir()}")
        trash = Path(tempfile.mkdtemp(prefix=f".{name}.removing-", dir=installed_dir()))
        os.rename(dest, trash / name)
        shutil.rmtree(trash)


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
    folder = find(name)  # find() checks the name is one safe path component
    if folder is None:
        raise unknown_module(name)
    dest = Path(output_dir) / name
    if dest.exists():
        shutil.rmtree(dest)
    ignore = shutil.ignore_patterns("__pycache__", "models")
    shutil.copytree(folder, dest, ignore=ignore)
    (dest / "models").mkdir()
    folders = [folder]
    for dep in dependencies(name):
        folders.append(find(dep))
        shutil.copytree(folders[-1], dest / DEPENDENCIES / dep, ignore=ignore)
    for module_folder in folders:
        for spec in read_metadata(module_folder)["model_files"].values():
            file = checked("model file", spec["file"])
            shipped = module_folder / "models" / file
            source = shipped if shipped.is_file() else store.resolve(spec)
            shutil.copyfile(source, dest / "models" / file)
    return dest
