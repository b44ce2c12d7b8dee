"""Admission control: a request gets a worker, waits in a bounded queue for one, or is refused at once.

One slot per worker process, shared by every module in one first-come, first-served line; each module may
have at most `queue_limit` requests waiting. A request refused (its module's queue full) or waiting past
`max_wait` gets 503 with Retry-After instead of being computed later for a client that has moved on; a
request whose client disconnects while it waits leaves the line and is never computed.
"""
import asyncio
from collections import Counter, deque


class Refused(Exception):
    def __init__(self, message, retry_after):
        super().__init__(message)
        self.message, self.retry_after = message, retry_after


class ClientGone(Exception):
    pass


class Admission:
    def __init__(self, slots, queue_limit, max_wait):
        self.free, self.queue_limit, self.max_wait = slots, queue_limit, max_wait
        self.line = deque()  # futures of waiting requests, oldest first
        self.waiting = Counter()  # module -> requests waiting
        self.counts = Counter()  # admitted, refused_queue_full, refused_deadline, client_gone

    async def enter(self, key, gone):
        """Return once a worker slot is held (call leave() after); raise Refused or ClientGone."""
        if self.free > 0 and not self.line:
            self.free -= 1
            self.counts["admitted"] += 1
            return
        if self.waiting[key] >= self.queue_limit:
            self.counts["refused_queue_full"] += 1
            raise Refused(f"server busy: {self.waiting[key]} requests for {key} already wait for a worker "
                          f"(queue limit {self.queue_limit}); retry later", retry_after=1)
        turn = asyncio.get_running_loop().create_future()
        self.line.append(turn)
        self.waiting[key] += 1
        try:
            await asyncio.wait({turn, gone}, timeout=self.max_wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.waiting[key] -= 1
        if turn.done():
            if gone.done():  # the slot came, but nobody is there to answer: hand it on
                self.leave()
                self.counts["client_gone"] += 1
                raise ClientGone()
            self.counts["admitted"] += 1
            return
        turn.cancel()
        if gone.done():
            self.counts["client_gone"] += 1
            raise ClientGone()
        self.counts["refused_deadline"] += 1
        raise Refused(f"server busy: no worker became free within {self.max_wait:g} s (queue_timeout); "
                      "retry later", retry_after=max(1, round(self.max_wait / 2)))

    def leave(self):
        """Give the slot to the oldest request still waiting, or free it."""
        while self.line:
            turn = self.line.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.free += 1
