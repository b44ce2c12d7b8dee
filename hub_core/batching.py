"""Run a per-chunk function over user inputs: one entry per input, in order, bad inputs isolated.

Every input is an Item made once where it enters (the Python API, hub.infer's sources, serving's request)
and carried to its result: its name is what every message about it says."""
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import images as imio

log = logging.getLogger("hub")


@dataclass(frozen=True)
class Item:
    name: str              # how messages name it: "images[0]", "paths[1] 'b.jpg'", "clip.mp4#12"
    source: object         # an array, a path, encoded bytes, or the ImageError that loading it gave
    path: str = None       # what its entry reports as 'path'
    index: int = 0         # its position in the call, for names of files written for it

    def load(self):
        if isinstance(self.source, imio.ImageError):
            raise self.source
        return imio.load(self.source, self.name)


def gather(images=None, paths=None):
    """Items for images (arrays, or Items made by the caller) then paths, in input order."""
    items = []
    if images is not None:
        if not isinstance(images, (list, tuple)):
            images = [images]
        items += [im if isinstance(im, Item) else Item(f"images[{i}]", im) for i, im in enumerate(images)]
    if paths is not None:
        if isinstance(paths, (str, Path)):
            paths = [paths]
        items += [Item(f"paths[{i}] {str(p)!r}", p, str(p)) for i, p in enumerate(paths)]
    return [item if item.index == i else Item(item.name, item.source, item.path, i) for i, item in enumerate(items)]


def error_entry(path, message):
    return {"data": [], "path": path, "error": message}


def run(items, batch_size, process, strict=False):
    """process(list_of_images, list_of_items) -> list of entries, one per image.

    Each chunk of batch_size decodable inputs is processed together; an input that
    fails to load, or an image that makes processing fail, gets an entry with an
    'error' naming it and the rest of the batch goes on. strict=True raises on the first error.
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
            entries = [_single(process, items[i], im) for i, im in pending]  # isolate the culprit
        for i, entry in zip(idx, entries):
            results[i] = entry
        pending.clear()

    for i, loaded in enumerate(prefetched(_load, items, lookahead=2 * batch_size)):
        if isinstance(loaded, imio.ImageError):
            if strict:
                raise loaded
            results[i] = error_entry(items[i].path, str(loaded))
        else:
            pending.append((i, loaded))
        if len(pending) >= batch_size:
            flush()
    flush()
    return results


def _load(item):
    try:
        return item.load()
    except imio.ImageError as e:
        return e


def prefetched(load, items, lookahead):
    """load(item) for each of a list of items, in order; a thread runs up to `lookahead` ahead, overlapping
    file reads and decoding (which release the GIL) with inference. One item runs inline."""
    if len(items) <= 1:
        yield from map(load, items)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="hub-decode") as pool:
        queue, upcoming = deque(), iter(items)
        for item in upcoming:
            queue.append(pool.submit(load, item))
            if len(queue) >= lookahead:
                break
        while queue:
            yield queue.popleft().result()
            item = next(upcoming, None)
            if item is not None:
                queue.append(pool.submit(load, item))


def _single(process, item, image):
    try:
        return process([image], [item])[0]
    except Exception as e:
        log.exception("processing %s failed", item.name)
        return error_entry(item.path, f"{item.name}: processing failed: {type(e).__name__}: {e}")
