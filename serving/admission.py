"""Admission control: a request gets a worker, waits in a bounded queue for one, or is refused at once.

Worker slots are shared by every module in one line; each module may have at most `queue_limit` requests
waiting. A request refused (its module's queue full) or waiting past `max_wait` gets 503 with Retry-After
instead of being computed later for a client that has moved on; a request whose client disconnects while
it waits leaves the line and is never computed.

The line is first come, first served while clients wait for their answers. Once clients start leaving
before theirs (the queue's wait has grown past their patience), a free slot goes to the newest request
instead: the oldest ones are the likeliest to be abandoned by the time they would be computed, while the
newest one's client has its whole patience left. The old ones leave with their clients or get their 503 at
`max_wait`. Fair order comes back once nobody has left for SHED_WINDOW_S.
"""
import asyncio
import time
from collections import Counter, deque

SHED_WINDOW_S = 2.0


class Refused(Exception):
    def __init__(self, message, retry_after):
        super().__init__(message)
        self.message, self.retry_after = message, retry_after


class ClientGone(Exception):
    pass


class Admission:
    def __init__(self, slots, queue_limit, max_wait):
        self.free, self.queue_limit, self.max_wait = slots, queue_limit, max_wait
        self.line = deque()  # futures of the requests waiting, oldest first
        self.waiting = Counter()  # module -> requests waiting
        self.counts = Counter()  # admitted, refused_queue_full, refused_deadline, client_gone, newest_first
        self.last_abandoned = float("-inf")  # when a client last left before its answer

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
            if not turn.done():  # still in the line: leave it
                turn.cancel()
                self.line.remove(turn)
        if turn.done() and not turn.cancelled():
            if gone.done():  # the slot came, but nobody is there to answer: hand it on
                self.leave()
                self.abandoned()
                raise ClientGone()
            self.counts["admitted"] += 1
            return
        if gone.done():
            self.abandoned()
            raise ClientGone()
        self.counts["refused_deadline"] += 1
        raise Refused(f"server busy: no worker became free within {self.max_wait:g} s (queue_timeout); "
                      "retry later", retry_after=max(1, round(self.max_wait / 2)))

    def abandoned(self, counter="client_gone"):
        """A client left before its answer (counted under `counter`): serve newest first for a while."""
        self.counts[counter] += 1
        self.last_abandoned = time.monotonic()

    def leave(self):
        """Give the slot to the oldest request waiting (the newest while clients are leaving), or free it."""
        if not self.line:
            self.free += 1
            return
        newest_first = time.monotonic() - self.last_abandoned < SHED_WINDOW_S
        self.counts["newest_first"] += newest_first
        (self.line.pop() if newest_first else self.line.popleft()).set_result(None)
