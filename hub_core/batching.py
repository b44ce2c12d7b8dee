"""Run a per-chunk function over user inputs: one entry per input, in order, bad inputs isolated."""
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import images as imio

log = logging.getLogger("hub")


def gather(images=None, paths=None):
    """[(name, source, path_or_None)] for images (arrays) then paths, in input order."""
    items = []
    if images is not None:
        if not isinstance(images, (list, tuple)):
            images = [images]
        items += [(f"images[{i}]", im, None) for i, im in enumerate(images)]
    if paths is not None:
        if isinstance(paths, (str, Path)):
            paths = [paths]
        items += [(f"paths[{i}] {str(p)!r}", p, str(p)) for i, p in enumerate(paths)]
    return items


def error_entry(path, message):
    return {"data": [], "path": path, "error": message}


def run(items, batch_size, process, strict=False):
    """process(list_of_images, list_of_items) -> list of entries, one per image.

    Each chunk of batch_size decodable inputs is processed together; an input that
    fails to load, or an image that makes processing fail, gets an entry with an
    'error' and the rest of the batch goes on. strict=True raises on the first error.
    """
    results = [None] * len(items)
    batch_size = max(1, int(batch_size))
    pending = []

    def flush():
        if not pending:
            return
        idx = [i for i, _ in pending]
        imgs = [im for _, im in pending]
        try:
            entries = process(imgs, [items[i] for i in idx])
        except Exception:
            if strict:
                raise
            entries = [_single(process, items, i, im) for i, im in pending]  # isolate the culprit
        for i, entry in zip(idx, entries):
            results[i] = entry
        pending.clear()

    for i, loaded in enumerate(_prefetch(items, lookahead=2 * batch_size)):
        if isinstance(loaded, imio.ImageError):
            if strict:
                raise loaded
            results[i] = error_entry(items[i][2], str(loaded))
        else:
            pending.append((i, loaded))
        if len(pending) >= batch_size:
            flush()
    flush()
    return results


def _load(item):
    try:
        return imio.load(item[1], item[0])
    except imio.ImageError as e:
        return e


def _prefetch(items, lookahead):
    """Decoded images (or ImageErrors) in order; a thread decodes up to `lookahead` ahead,
    overlapping file reads and decoding (which release the GIL) with inference."""
    if len(items) <= 1:
        yield from map(_load, items)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="hub-decode") as pool:
        queue, upcoming = deque(), iter(items)
        for item in upcoming:
            queue.append(pool.submit(_load, item))
            if len(queue) >= lookahead:
                break
        while queue:
            yield queue.popleft().result()
            item = next(upcoming, None)
            if item is not None:
                queue.append(pool.submit(_load, item))


def _single(process, items, i, image):
    name, _, path = items[i]
    try:
        return process([image], [items[i]])[0]
    except Exception as e:
        log.exception("processing %s failed", name)
        return error_entry(path, f"{name}: processing failed: {type(e).__name__}: {e}")
