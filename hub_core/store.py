"""Model store: find a module's model file by sha256, never load an unverified one.

Lookup order: the $HUB_HOME/models cache, then mirror folders (HUB_MODEL_MIRRORS,
':'-separated, default ../shared/models beside this checkout), then the file's
upstream URL (unless HUB_OFFLINE=1), downloaded atomically into the cache. A corrupt cached copy is
reported and replaced from a mirror or the URL. Processes of one machine fetch a file one at a time
(a lock per file), so a file is downloaded once however many workers start together.
"""
import hashlib
import logging
import os
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

from tqdm import tqdm

from .errors import HubError
from .filelock import locked
from .names import checked

log = logging.getLogger("hub.store")

_verified = {}  # (path, size, mtime) -> sha256, so a file is hashed once per process


class ModelNotFound(HubError, FileNotFoundError):
    pass


class ChecksumError(HubError, ValueError):
    pass


class DownloadError(HubError, OSError):
    """A download that failed or ran past its deadline; the message names the file and the URL."""


def download_deadline():
    """Seconds a whole model download may take (HUB_DOWNLOAD_TIMEOUT, default 600)."""
    return float(os.environ.get("HUB_DOWNLOAD_TIMEOUT", 600))


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
    name = checked("model file", spec["file"])
    cached = cache_dir() / name
    if _matches(cached, spec):
        return cached
    if not cached.exists():
        mirrored = next((p for p in (d / name for d in mirror_dirs()) if _matches(p, spec)), None)
        if mirrored is not None:
            return mirrored
    with locked(hub_home() / "locks" / f"{name}.lock"):  # another process may be fetching it right now
        if _matches(cached, spec):
            return cached
        return _fetch(spec, name, cached, offline)


def _fetch(spec, name, cached, offline):
    corrupt = cached.is_file()
    mirrors = [d / name for d in mirror_dirs()]
    good = next((p for p in mirrors if _matches(p, spec)), None)
    if good is not None:
        if not corrupt:
            return good
        log.warning("cached model file %s has the wrong sha256 (corrupt); replacing it from %s", cached, good)
        _copy_atomically(good, cached)
        return cached
    bad = [str(p) for p in [cached] + mirrors if p.is_file()]
    offline = os.environ.get("HUB_OFFLINE") == "1" if offline is None else offline
    url = spec.get("url")
    if url and not offline:
        if corrupt:
            log.warning("cached model file %s has the wrong sha256 (corrupt); downloading it again from %s",
                        cached, url)
        return download(url, spec)
    where = ", ".join(str(p) for p in [cached] + mirrors)
    why = f"; present but with the wrong sha256: {', '.join(bad)}" if bad else ""
    hint = ("HUB_OFFLINE=1 forbids downloading it" if url else
            "it was converted for keypoint-hub and has no public URL")
    raise ModelNotFound(f"model file {name} (sha256 {spec['sha256'][:12]}…) not found in {where}{why}; {hint}: "
                        f"point HUB_MODEL_MIRRORS at a folder that has it, copy it into {cache_dir()}, or "
                        f"`hub install` a bundle made by `hub download` on a machine that has it")


def _copy_atomically(source, dest):
    """Copy source to dest so that dest is either the old file or the whole new one, never a part."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def download(url, spec, timeout=30, deadline=None):
    """Download url into the cache; the file appears only once its sha256 is right. timeout bounds each
    read, deadline (default HUB_DOWNLOAD_TIMEOUT) the whole download; errors name the file and the URL."""
    name = checked("model file", spec["file"])
    deadline = download_deadline() if deadline is None else deadline
    dest = cache_dir() / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest.parent)
    start = time.monotonic()
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=min(timeout, deadline)) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=None, leave=False) as bar:
                for chunk in iter(lambda: resp.read1(1 << 16), b""):
                    out.write(chunk)
                    h.update(chunk)
                    bar.update(len(chunk))
                    if time.monotonic() - start > deadline:
                        raise TimeoutError(f"not done after {deadline:g} s (HUB_DOWNLOAD_TIMEOUT)")
            if total is not None and out.tell() != total:
                raise IOError(f"cut short ({out.tell()} of {total} bytes)")
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != spec["sha256"]:
            raise ChecksumError(f"model file {name} downloaded from {url} has sha256 "
                                f"{h.hexdigest()}, expected {spec['sha256']}; not cached")
        os.replace(tmp, dest)
        return dest
    except OSError as e:  # URLError, timeouts and resets are OSErrors
        raise DownloadError(f"download of model file {name} from {url} failed after "
                            f"{time.monotonic() - start:.1f} s: {getattr(e, 'reason', None) or e}") from e
    finally:
        Path(tmp).unlink(missing_ok=True)
