"""The Celery side of tests/bench/peer-celery. Runs under the bench venv's
Python (build/bench-venv, celery[redis]); the driver (tests/bench/peer-celery)
sets the environment below.

As a Celery app (celery -A celery_app worker ...): one no-op task.
As a script (python celery_app.py submit N SLEEP_MS): publishes N tasks and
prints a JSON line with the publish start/end times (epoch ms).

Environment:
  BENCH_CELERY_BROKER   broker URL (redis://host:port/15)
  BENCH_CELERY_QUEUE    queue name (fresh per run)
  BENCH_CELERY_BACKEND  result backend URL, or empty for none (the default)
  BENCH_CELERY_PREFETCH worker_prefetch_multiplier
  BENCH_CELERY_READY    directory where each worker node touches a file when ready
"""

import json
import os
import sys
import time

from celery import Celery
from celery.signals import worker_ready

BROKER = os.environ.get("BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/15")
QUEUE = os.environ.get("BENCH_CELERY_QUEUE", "bench")
BACKEND = os.environ.get("BENCH_CELERY_BACKEND") or None

app = Celery("datafleet_bench", broker=BROKER, backend=BACKEND)
app.conf.update(
    task_default_queue=QUEUE,
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
    # Acknowledge after the task ran, as datafleet commits an offset only
    # after the task's outcome event is in Kafka.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=int(os.environ.get("BENCH_CELERY_PREFETCH", "16")),
    # No result backend by default: Celery stores nothing per task. With
    # BENCH_CELERY_BACKEND set, results and the STARTED state are stored,
    # closer to datafleet's running/succeeded status.
    task_ignore_result=BACKEND is None,
    task_track_started=BACKEND is not None,
    task_store_errors_even_if_ignored=False,
    worker_send_task_events=False,
    task_send_sent_event=False,
    worker_disable_rate_limits=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="bench.noop")
def noop(sleep_ms=0):
    if sleep_ms:
        time.sleep(sleep_ms / 1000.0)
    return None


@worker_ready.connect
def _ready(sender=None, **_kw):
    d = os.environ.get("BENCH_CELERY_READY")
    if d:
        name = getattr(sender, "hostname", None) or str(os.getpid())
        with open(os.path.join(d, name.replace("/", "_")), "w") as f:
            f.write(str(os.getpid()))


def submit(n, sleep_ms):
    """Publish n tasks through Celery's own client (kombu, one connection,
    producer pool): each apply_async is one LPUSH the broker has taken when
    it returns."""
    args = {"sleep_ms": sleep_ms} if sleep_ms else {}
    with app.producer_or_acquire() as producer:
        t0 = time.time() * 1000.0
        for _ in range(n):
            noop.apply_async(kwargs=args, producer=producer)
        t1 = time.time() * 1000.0
    print(json.dumps({"submitted": n, "start_ms": t0, "end_ms": t1}))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "submit":
        submit(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.stderr.write("usage: python celery_app.py submit N SLEEP_MS\n")
        sys.exit(2)
