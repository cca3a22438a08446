"""py_mutants.py - asyncio loops for `make check-mutants`, each an
asyncio.SelectorEventLoop subclass with one bug real loops have had (a
mutant: it must fail the rule its row of list_py.h names) or one difference
the contract allows (a variant: it must pass the whole suite). check.sh runs
PYTHONPATH=conformance/mutants evl-conform --impl py:py_mutants:NAME.
Each factory is named as its row; the row says what and where."""
import asyncio
import heapq
import selectors
import time

Base = asyncio.SelectorEventLoop


# ---- mutants -------------------------------------------------------------
class _SoonLifo(Base):
    def call_soon(self, callback, *args, context=None):
        handle = super().call_soon(callback, *args, context=context)
        self._ready.rotate(1)  # newest first
        return handle


def soon_lifo():
    return _SoonLifo()


class _DelayFromCached(Base):
    _iter_time = None

    def _run_once(self):
        self._iter_time = self.time()  # read once, before the wait
        super()._run_once()

    def call_later(self, delay, callback, *args, context=None):
        now = self.time() if self._iter_time is None else self._iter_time
        return self.call_at(now + delay, callback, *args, context=context)


def delay_from_cached():
    return _DelayFromCached()


class _ThreadsafeNoWake(Base):
    def call_soon_threadsafe(self, callback, *args, context=None):
        self._check_closed()
        return self._call_soon(callback, args, context)  # no _write_to_self


def threadsafe_no_wake():
    return _ThreadsafeNoWake()


class _RemoveKeepsKey(Base):
    def _remove_reader(self, fd):
        # The callback goes, the selector registration stays.
        try:
            key = self._selector.get_key(fd)
        except KeyError:
            return False
        reader, writer = key.data
        self._selector.modify(fd, key.events, (None, writer))
        if reader is None:
            return False
        reader.cancel()
        return True


def remove_keeps_key():
    return _RemoveKeepsKey()


class _CancelIgnored(asyncio.TimerHandle):
    def cancel(self):
        pass  # the timer stays in the heap, live


class _TimerCancelIgnored(Base):
    def call_at(self, when, callback, *args, context=None):
        self._check_closed()
        timer = _CancelIgnored(when, callback, args, self, context)
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True
        return timer


def timer_cancel_ignored():
    return _TimerCancelIgnored()


class _StopCleared(Base):
    def run_forever(self):
        self._stopping = False  # a stop() asked before the run is lost
        super().run_forever()


def stop_cleared():
    return _StopCleared()


class _WallTime(Base):
    def time(self):
        return time.time()


def wall_time():
    return _WallTime()


class _ClosedFdAccepted(Base):
    def _add_reader(self, fd, callback, *args):
        try:
            return super()._add_reader(fd, callback, *args)
        except OSError:
            return None  # EBADF swallowed: nothing watched, no error


def closed_fd_accepted():
    return _ClosedFdAccepted()


class _HandlerIgnored(Base):
    def call_exception_handler(self, context):
        self.default_exception_handler(context)  # set_exception_handler's lost


def handler_ignored():
    return _HandlerIgnored()


# ---- variants ------------------------------------------------------------
def poll_selector():
    return Base(selectors.PollSelector())
