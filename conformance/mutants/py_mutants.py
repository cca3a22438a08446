"""py_mutants.py - asyncio loops for `make check-mutants`, each an
asyncio.SelectorEventLoop subclass with one bug real loops have had (a
mutant: it must fail the rule its row of list_py.h names) or one difference
the contract allows (a variant: it must pass the whole suite). check.sh runs
PYTHONPATH=conformance/mutants evl-conform --impl py:py_mutants:NAME.
Each factory is named as its row; the row says what and where."""
import asyncio
import heapq
import selectors
import threading
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


# Mutants of the loop's own futures and executor (s13_py_*, s14_py_*).
class _RucStoppedReturns(Base):
    def run_until_complete(self, future):
        future = asyncio.ensure_future(future, loop=self)
        future.add_done_callback(lambda f: self.stop())
        self.run_forever()
        if not future.done():
            return None  # stopped first: returns quietly, future pending
        return future.result()


def ruc_stopped_returns():
    return _RucStoppedReturns()


class _InlineFuture(asyncio.Future):
    # Done-callbacks kept here and called inside set_result/set_exception/
    # cancel, or inside add_done_callback on a done future.
    def __init__(self, *, loop):
        super().__init__(loop=loop)
        self._inline = []

    def add_done_callback(self, fn, *, context=None):
        if self.done():
            fn(self)
        else:
            self._inline.append(fn)

    def remove_done_callback(self, fn):
        n = len(self._inline)
        self._inline = [f for f in self._inline if f != fn]
        return n - len(self._inline)

    def _run_inline(self):
        cbs, self._inline = self._inline, []
        for fn in cbs:
            fn(self)

    def set_result(self, result):
        super().set_result(result)
        self._run_inline()

    def set_exception(self, exception):
        super().set_exception(exception)
        self._run_inline()

    def cancel(self, msg=None):
        done = super().cancel(msg)
        self._run_inline()
        return done


class _CallbacksInline(Base):
    def create_future(self):
        return _InlineFuture(loop=self)


def callbacks_inline():
    return _CallbacksInline()


class _RucSwallowsError(Base):
    def run_until_complete(self, future):
        future = asyncio.ensure_future(future, loop=self)
        super().run_until_complete(asyncio.wait([future]))
        if future.exception() is not None:
            self.call_exception_handler({'message': 'run_until_complete',
                                         'exception': future.exception()})
            return None  # the error is reported, not raised
        return future.result()


def ruc_swallows_error():
    return _RucSwallowsError()


class _ForeignAccepted(Base):
    def run_until_complete(self, future):
        if asyncio.isfuture(future) and future.get_loop() is not self:
            # Another loop's future is waited for by polling its state.
            while not future.done():
                self._run_once()
            return future.result()
        return super().run_until_complete(future)


def foreign_accepted():
    return _ForeignAccepted()


class _ExecutorInline(Base):
    def run_in_executor(self, executor, func, *args):
        fut = self.create_future()
        try:
            fut.set_result(func(*args))  # on the loop thread, inside the call
        except Exception as e:
            fut.set_exception(e)
        return fut


def executor_inline():
    return _ExecutorInline()


def _on_worker(func, args, deliver):
    """func(*args) on a new thread, then deliver("set_result", its result)
    or deliver("set_exception", its exception) on that thread."""

    def work():
        try:
            r = func(*args)
        except Exception as e:
            deliver("set_exception", e)
        else:
            deliver("set_result", r)

    threading.Thread(target=work).start()


class _ExecutorOffLoop(Base):
    def run_in_executor(self, executor, func, *args):
        fut = self.create_future()

        def deliver(how, value):
            getattr(fut, how)(value)  # on the worker thread
            self._write_to_self()

        _on_worker(func, args, deliver)
        return fut


def executor_off_loop():
    return _ExecutorOffLoop()


class _ExecutorNoWake(Base):
    def run_in_executor(self, executor, func, *args):
        fut = self.create_future()
        def deliver(how, value):
            self.call_soon(getattr(fut, how), value)  # no wake-up write

        _on_worker(func, args, deliver)
        return fut


def executor_no_wake():
    return _ExecutorNoWake()


# ---- variants ------------------------------------------------------------
def poll_selector():
    return Base(selectors.PollSelector())
