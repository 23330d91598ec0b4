"""The counters' store: counts add up in each process and reach Redis in one pipeline per flush,
never on the counted path; a reader sees its own unwritten counts; a fork starts empty."""

import os
import time

import pytest
import redis
from django.conf import settings

from keys.metrics import EXECUTION_SECONDS, HSM_CALLS, MetricsStore


@pytest.fixture
def store_factory(request):
    """Stores under a prefix of this test's own, emptied afterwards."""
    prefix = f"{settings.METRICS_REDIS_PREFIX}store-test-{os.getpid()}-{time.time_ns()}:"
    made = []

    def make(flush_seconds: float) -> MetricsStore:
        store = MetricsStore.from_url(
            settings.METRICS_REDIS_URL, prefix=prefix, flush_seconds=flush_seconds
        )
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()
    made[0].reset()


def _raw(family: str) -> dict[bytes, bytes]:
    client = redis.Redis.from_url(settings.METRICS_REDIS_URL)
    keys = client.keys(f"{settings.METRICS_REDIS_PREFIX}store-test-{os.getpid()}-*:{family}")
    return client.hgetall(keys[0]) if keys else {}


def test_counts_wait_in_the_process_until_a_flush_writes_them_all_at_once(store_factory):
    # given: a store that writes every minute
    store = store_factory(60)
    # when
    store.increment(HSM_CALLS, "key.get")
    store.increment(HSM_CALLS, "key.get")
    store.increment(HSM_CALLS, "key.create")
    store.observe(EXECUTION_SECONDS, ("key.create", "succeeded"), 1.5)
    # then: nothing in Redis yet
    assert _raw(HSM_CALLS) == {}
    # and one flush writes the sums
    store.flush()
    assert _raw(HSM_CALLS) == {b"key.get": b"2", b"key.create": b"1"}
    assert _raw(EXECUTION_SECONDS) == {
        b"key.create|succeeded|le=2.0": b"1",
        b"key.create|succeeded|sum": b"1.5",
        b"key.create|succeeded|count": b"1",
    }
    # and a second flush with nothing pending writes nothing more
    store.flush()
    assert _raw(HSM_CALLS) == {b"key.get": b"2", b"key.create": b"1"}


def test_a_reader_sees_its_own_unwritten_counts_and_a_reset_drops_them(store_factory):
    # given
    store = store_factory(60)
    store.increment(HSM_CALLS, "key.get", amount=3)
    # then: reading includes this process's pending counts
    assert store.counters(HSM_CALLS) == {("key.get",): 3.0}
    # and a reset forgets the written and the pending ones
    store.increment(HSM_CALLS, "key.get")
    store.reset()
    store.flush()
    assert store.counters(HSM_CALLS) == {}


def test_the_background_thread_writes_within_the_flush_period(store_factory):
    # given
    store = store_factory(0.1)
    # when
    store.increment(HSM_CALLS, "key.rotate")
    # then: written by the thread, nobody flushing
    deadline = time.monotonic() + 5
    while _raw(HSM_CALLS) == {} and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _raw(HSM_CALLS) == {b"key.rotate": b"1"}


def test_without_a_period_every_count_is_written_at_once(store_factory):
    store = store_factory(0)
    store.increment(HSM_CALLS, "key.delete")
    assert _raw(HSM_CALLS) == {b"key.delete": b"1"}


def test_a_forked_child_starts_with_an_empty_buffer_and_its_own_flusher(store_factory):
    # given: a count pending in the parent
    store = store_factory(60)
    store.increment(HSM_CALLS, "key.get")
    # when: a child counts one of its own and flushes
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            store.increment(HSM_CALLS, "key.create")
            store.flush()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    # then: only the child's count was written; the parent's is still its own
    assert os.waitstatus_to_exitcode(status) == 0
    assert _raw(HSM_CALLS) == {b"key.create": b"1"}
    store.flush()
    assert _raw(HSM_CALLS) == {b"key.create": b"1", b"key.get": b"1"}
