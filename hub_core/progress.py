"""Progress bars for long commands: on a terminal only, so logs and pipes stay clean."""
import sys

from tqdm import tqdm


def bar(total, desc, unit="img"):
    """A tqdm bar on stderr, disabled when stderr is not a terminal."""
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)
