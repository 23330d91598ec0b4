"""The background batcher and runner with real threads. Batcher: what arrives while a send runs
leaves in the next list (at most `limit`), in order, after waiting `linger` for more; a send
that raises is logged and the thread goes on; flush returns once what waits is sent; a forked
child starts empty. Runner: calls in order on its thread, at most `depth` at a time, a failure
kept in its future, flushed before the batchers, none of a parent's in a forked child."""

from __future__ import annotations

import os
import threading

import pytest

from core.batching import BackgroundBatcher, BackgroundRunner, flush_all

TIMEOUT = 10


class Recorder:
    """A send that records each list, holding the first until `release` (a send under way)."""

    def __init__(self, *, fail_first: bool = False) -> None:
        self.lists: list[list] = []
        self.threads: set[str] = set()
        self.started, self.release, self.fail_first = (
            threading.Event(),
            threading.Event(),
            fail_first,
        )
        self._changed = threading.Condition()

    def __call__(self, items: list) -> None:
        self.started.set()
        assert self.release.wait(TIMEOUT)
        with self._changed:
            self.lists.append(list(items))
            self.threads.add(threading.current_thread().name)
            self._changed.notify_all()
        if self.fail_first and len(self.lists) == 1:
            raise RuntimeError("the broker is down")

    def wait_for(self, count: int) -> list[list]:
        with self._changed:
            assert self._changed.wait_for(lambda: sum(map(len, self.lists)) >= count, TIMEOUT)
            return self.lists


def test_what_arrives_while_a_list_is_sent_leaves_together_in_order_in_lists_of_the_limit():
    # given: the first item's send is under way and held
    recorder = Recorder()
    batcher = BackgroundBatcher(recorder, name="test-batcher", limit=3)
    batcher.put(0)
    assert recorder.started.wait(TIMEOUT)
    # when: five more arrive meanwhile, then the send ends
    for item in range(1, 6):
        batcher.put(item)
    recorder.release.set()
    # then
    assert recorder.wait_for(6) == [[0], [1, 2, 3], [4, 5]]
    assert recorder.threads == {"test-batcher"}


def test_a_list_waits_its_linger_for_more_items_unless_the_limit_is_reached():
    # given: a batcher whose lists wait half a second for more
    recorder = Recorder()
    recorder.release.set()
    batcher = BackgroundBatcher(recorder, name="test-batcher", limit=4, linger=0.5)
    # when: six items arrive one after another
    for item in range(6):
        batcher.put(item)
    # then: the first four fill a list at once; the other two leave together after the wait
    assert recorder.wait_for(6) == [[0, 1, 2, 3], [4, 5]]


def test_a_send_that_fails_is_logged_and_the_next_list_still_goes(caplog):
    # given: the first send raises
    recorder = Recorder(fail_first=True)
    batcher = BackgroundBatcher(recorder, name="test-batcher")
    recorder.release.set()
    # when
    batcher.put("lost")
    recorder.wait_for(1)
    batcher.put("sent")
    # then
    assert recorder.wait_for(2) == [["lost"], ["sent"]]
    [failure] = [r for r in caplog.records if r.getMessage() == "batching.send_failed"]
    assert (failure.batcher, str(failure.exc_info[1])) == ("test-batcher", "the broker is down")


def test_flush_returns_once_what_waits_is_sent_after_the_send_under_way():
    # given: one list under way, two items waiting behind it
    recorder = Recorder()
    batcher = BackgroundBatcher(recorder, name="test-batcher", limit=10)
    batcher.put("first")
    assert recorder.started.wait(TIMEOUT)
    batcher.put("second")
    batcher.put("third")
    # when: flushed (the send under way ends a moment later)
    threading.Timer(0.2, recorder.release.set).start()
    batcher.flush()
    # then: the waiting ones went together before flush returned (from this thread or the
    # batcher's, whichever took them first)
    assert recorder.lists == [["first"], ["second", "third"]]


def test_a_forked_child_starts_empty():
    # given: an item waiting behind a held send
    recorder = Recorder()
    batcher = BackgroundBatcher(recorder, name="test-batcher")
    batcher.put("parent's")
    assert recorder.started.wait(TIMEOUT)
    batcher.put("parent's too")
    # when: the process forks; the child flushes
    pid = os.fork()
    if pid == 0:  # the child: its flush finds nothing to send (exit code = lists it sent)
        recorder.release.set()
        before = len(recorder.lists)
        batcher.flush()
        os._exit(len(recorder.lists) - before)
    _, status = os.waitpid(pid, 0)
    recorder.release.set()
    # then: the child sent nothing; the parent sends its own
    assert os.waitstatus_to_exitcode(status) == 0
    assert recorder.wait_for(2) == [["parent's"], ["parent's too"]]


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_below_one_is_refused(limit):
    with pytest.raises(ValueError, match="limit must be at least 1"):
        BackgroundBatcher(print, name="test-batcher", limit=limit)


# --- BackgroundRunner: calls one at a time on one thread, at most `depth` waiting or running ---


class HeldCalls:
    """Calls that record their argument and thread, each held until `release`."""

    def __init__(self) -> None:
        self.done: list = []
        self.threads: set[str] = set()
        self.started, self.release = threading.Semaphore(0), threading.Event()

    def __call__(self, value):
        self.started.release()
        assert self.release.wait(TIMEOUT)
        self.done.append(value)
        self.threads.add(threading.current_thread().name)
        if value == "fails":
            raise RuntimeError("the database is down")
        return value


def test_calls_run_in_order_on_one_thread_of_their_own():
    # given
    calls = HeldCalls()
    runner = BackgroundRunner(name="test-runner")
    calls.release.set()
    # when
    futures = [runner.submit(calls, n) for n in range(5)]
    # then
    assert [f.result(TIMEOUT) for f in futures] == [0, 1, 2, 3, 4]
    assert calls.done == [0, 1, 2, 3, 4]
    [thread] = calls.threads
    assert thread.startswith("test-runner") and thread != threading.current_thread().name


def test_with_a_depth_submit_waits_for_a_place_before_it_hands_over():
    # given: a runner of depth 1 whose call is under way and held
    calls = HeldCalls()
    runner = BackgroundRunner(name="test-runner", depth=1)
    runner.submit(calls, "first")
    assert calls.started.acquire(timeout=TIMEOUT)
    # when: a second call is submitted from another thread
    handed = threading.Event()
    threading.Thread(target=lambda: (runner.submit(calls, "second"), handed.set())).start()
    # then: it is held back until the first call ends, and then runs
    assert not handed.wait(0.3)
    calls.release.set()
    assert handed.wait(TIMEOUT)
    runner.flush()
    assert calls.done == ["first", "second"]


def test_a_call_that_fails_leaves_its_error_in_its_future_and_the_next_still_runs():
    # given
    calls = HeldCalls()
    runner = BackgroundRunner(name="test-runner", depth=1)
    calls.release.set()
    # when
    failed = runner.submit(calls, "fails")
    after = runner.submit(calls, "after")
    # then
    assert str(failed.exception(TIMEOUT)) == "the database is down"
    assert after.result(TIMEOUT) == "after"
    assert calls.done == ["fails", "after"]


def test_flush_returns_once_every_call_submitted_has_ended():
    # given: one call under way, one waiting behind it
    calls = HeldCalls()
    runner = BackgroundRunner(name="test-runner")
    runner.submit(calls, "first")
    runner.submit(calls, "second")
    assert calls.started.acquire(timeout=TIMEOUT)
    # when: flushed (the calls are let go a moment later)
    threading.Timer(0.2, calls.release.set).start()
    runner.flush()
    # then
    assert calls.done == ["first", "second"]


def test_flush_all_runs_the_runners_first_so_what_they_batch_is_sent_too():
    # given: a runner's call that puts an item into a batcher, submitted and held
    recorder, calls = Recorder(), HeldCalls()
    recorder.release.set()
    batcher = BackgroundBatcher(recorder, name="test-batcher", linger=5)
    runner = BackgroundRunner(name="test-runner")
    runner.submit(lambda: (calls("record"), batcher.put("its notice")))
    threading.Timer(0.2, calls.release.set).start()
    # when: everything is flushed (a process about to exit)
    flush_all()
    # then: the call ended and its item was sent, without waiting out the linger
    assert calls.done == ["record"]
    assert recorder.lists == [["its notice"]]


def test_a_forked_child_runs_none_of_the_parents_calls():
    # given: a call under way and one waiting, both held
    calls = HeldCalls()
    runner = BackgroundRunner(name="test-runner", depth=2)
    runner.submit(calls, "parent's")
    runner.submit(calls, "parent's too")
    assert calls.started.acquire(timeout=TIMEOUT)
    # when: the process forks; the child flushes and submits a call of its own
    pid = os.fork()
    if pid == 0:  # the child: exit code 0 when only its own call ran there
        calls.release.set()
        runner.flush()
        ran = runner.submit(calls, "child's").result(TIMEOUT)
        os._exit(0 if (calls.done, ran) == (["child's"], "child's") else 1)
    _, status = os.waitpid(pid, 0)
    calls.release.set()
    runner.flush()
    # then
    assert os.waitstatus_to_exitcode(status) == 0
    assert calls.done == ["parent's", "parent's too"]


@pytest.mark.parametrize("depth", [0, -1])
def test_a_depth_below_one_is_refused(depth):
    with pytest.raises(ValueError, match="depth must be at least 1"):
        BackgroundRunner(name="test-runner", depth=depth)
