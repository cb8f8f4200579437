"""multiprocessing's resource tracker inherits auto-instrumentation with the environment but runs none
of the program's code: it is never profiled, while the spawned workers beside it are. Run for real
under ``opentelemetry-instrument`` (uvicorn's spawned workers: tests/integration/test_workers.py)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from opentelemetry_instrumentation_memory.otel.processes import resource_tracker

from .test_auto_instrumentation import opentelemetry_instrument

REPOSITORY = Path(__file__).resolve().parents[2]

APP = textwrap.dedent(
    """
    import multiprocessing
    import sys
    from multiprocessing import resource_tracker

    from opentelemetry_instrumentation_memory import get_memory_profiler


    def work(queue):
        queue.put(get_memory_profiler().running)


    if __name__ == "__main__":
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()  # a semaphore: the resource tracker starts for it
        worker = context.Process(target=work, args=(queue,))
        worker.start()
        print(get_memory_profiler().running, queue.get(timeout=60), flush=True)
        worker.join(60)
        print(resource_tracker._resource_tracker._pid, flush=True)
        sys.stdin.read()  # until the test is done
    """
)


def test_the_resource_tracker_is_not_profiled_but_the_spawned_worker_is(tmp_path):
    (tmp_path / "app.py").write_text(APP)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment.update(
        PYTHONPATH=str(REPOSITORY),
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",  # the SDK's export thread would count among the tracker's threads
        OTEL_TRACES_EXPORTER="none",
        OTEL_PYTHON_MEMORY_SNAPSHOT_INTERVAL="0.1",
    )
    app = subprocess.Popen(
        [opentelemetry_instrument(), sys.executable, "app.py"],
        cwd=tmp_path,
        env=environment,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        profiled = app.stdout.readline().split()
        tracker = psutil.Process(int(app.stdout.readline()))
        command = tracker.cmdline()
        threads = tracker.num_threads()
    finally:
        _, stderr = app.communicate("", timeout=60)
    assert profiled == ["True", "True"], stderr  # the main process and the spawned worker
    assert resource_tracker(command), command
    assert threads == 1, (threads, command)  # the profiler's loop made it 2


@pytest.mark.parametrize(
    "argv, expected",
    [
        ([sys.executable, "-B", "-c", "from multiprocessing.resource_tracker import main;main(6)"], True),
        ([sys.executable, "-c", "from multiprocessing.resource_tracker import main; main(12)"], True),
        (
            [sys.executable, "-c", "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=6)"],
            False,
        ),
        (
            [sys.executable, "-c", "from multiprocessing.forkserver import main; main(7, 8, ['__main__'])"],
            False,
        ),
        ([sys.executable, "app.py", "-c", "print('multiprocessing.resource_tracker')"], False),
        ([sys.executable, "-m", "uvicorn", "--workers", "2", "app:app"], False),
    ],
)
def test_the_resource_tracker_is_told_by_its_command_line(argv, expected):
    assert resource_tracker(argv) is expected
