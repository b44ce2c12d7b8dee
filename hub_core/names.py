"""Module and model file names: single path components from a safe character set.

A name comes from a module's metadata, a tarball or the command line, and becomes a path under
$HUB_HOME; `../x`, `/abs`, `a/b` or a name with control characters must never reach the file system.
"""
import re

from .errors import HubError

_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class UnsafeName(HubError, ValueError):
    pass


def checked(kind, name):
    """name itself if it is one safe path component; UnsafeName naming kind and the value otherwise."""
    if not isinstance(name, str) or not _SAFE.fullmatch(name):
        raise UnsafeName(f"{kind} {name!r} is not a safe name: use one path component of letters, digits, "
                         f"'.', '_' and '-' that starts with a letter or digit")
    return name
