"""Model store: find a module's model file by sha256, never load an unverified one.

Lookup order: the $HUB_HOME/models cache, then mirror folders (HUB_MODEL_MIRRORS,
':'-separated, default ../shared/models beside this checkout), then the file's
upstream URL (unless HUB_OFFLINE=1), downloaded atomically into the cache.
"""
import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

from tqdm import tqdm

from .errors import HubError

_verified = {}  # (path, size, mtime) -> sha256, so a file is hashed once per process


class ModelNotFound(HubError, FileNotFoundError):
    pass


class ChecksumError(HubError, ValueError):
    pass


def hub_home():
    return Path(os.environ.get("HUB_HOME", Path.home() / ".keypoint_hub"))


def cache_dir():
    return hub_home() / "models"


def mirror_dirs():
    env = os.environ.get("HUB_MODEL_MIRRORS")
    if env is not None:
        return [Path(p) for p in env.split(":") if p]
    checkout = Path(__file__).resolve().parents[1]
    beside_checkout = checkout.parent / "shared" / "models"
    if (checkout / "pyproject.toml").is_file() and beside_checkout.is_dir():
        return [beside_checkout]  # a source checkout with ../shared beside it
    return []


def sha256_of(path):
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _verified:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _verified[key] = h.hexdigest()
    return _verified[key]


def _matches(path, spec):
    return path.is_file() and sha256_of(path) == spec["sha256"]


def resolve(spec, offline=None):
    """Return a local, verified path for a model file spec {file, sha256, [url]}."""
    name = spec["file"]
    candidates = [cache_dir() / name] + [d / name for d in mirror_dirs()]
    for path in candidates:
        if _matches(path, spec):
            return path
    bad = [str(p) for p in candidates if p.is_file()]
    offline = os.environ.get("HUB_OFFLINE") == "1" if offline is None else offline
    url = spec.get("url")
    if url and not offline:
        return download(url, spec)
    where = ", ".join(str(p) for p in candidates)
    why = f"; present but with the wrong sha256: {', '.join(bad)}" if bad else ""
    hint = ("HUB_OFFLINE=1 forbids downloading it" if url else
            "it was converted for keypoint-hub and has no public URL")
    raise ModelNotFound(f"model file {name} (sha256 {spec['sha256'][:12]}…) not found in {where}{why}; {hint}: "
                        f"point HUB_MODEL_MIRRORS at a folder that has it, copy it into {cache_dir()}, or "
                        f"`hub install` a bundle made by `hub download` on a machine that has it")


def download(url, spec, timeout=30):
    """Download url into the cache; the file appears only once its sha256 is right."""
    dest = cache_dir() / spec["file"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{spec['file']}.", suffix=".part", dir=dest.parent)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=spec["file"],
                      disable=None, leave=False) as bar:
                for chunk in iter(lambda: resp.read(1 << 16), b""):
                    out.write(chunk)
                    h.update(chunk)
                    bar.update(len(chunk))
            if total is not None and out.tell() != total:
                raise IOError(f"download of {spec['file']} from {url} was cut short "
                              f"({out.tell()} of {total} bytes)")
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != spec["sha256"]:
            raise ChecksumError(f"model file {spec['file']} downloaded from {url} has sha256 "
                                f"{h.hexdigest()}, expected {spec['sha256']}; not cached")
        os.replace(tmp, dest)
        return dest
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
