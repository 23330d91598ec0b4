"""The background batcher with a real thread: what arrives while a send runs leaves in the next
list (at most `limit`), in order, after waiting `linger` for more; a send that raises is logged
and the thread goes on; flush returns once what waits is sent; a forked child starts empty."""

from __future__ import annotations

import os
import threading

import pytest

from core.batching import BackgroundBatcher

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
