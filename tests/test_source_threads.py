"""CPython 3.11/3.12 keep the AST converters' recursion depth in interpreter state: two threads
converting at once fail with "SystemError: AST constructor recursion depth mismatch"
(python/cpython#106905). The language server's worker thread, the probe's verdict threads and
thread pools that run checks all parse: trainlint.source takes those conversions one at a time."""

import gc
import threading
import time
from pathlib import Path

from trainlint.source import cpython_tree

SCRIPT = (Path(__file__).parent.parent / "benchmarks" / "data" / "train_330.py").read_text()


def test_threads_parsing_at_once_do_not_break_the_ast_converters():
    errors: list[BaseException] = []

    def parse_many(worker: int) -> None:
        try:
            for i in range(15):
                # a new text each time: the last answer of a thread is remembered
                cpython_tree(f"{SCRIPT}\n# {worker} {i}\n", f"t{worker}.py")
        except Exception as exc:  # noqa: BLE001 - what a thread raised is the test's finding
            errors.append(exc)

    # A collection in the middle of a conversion runs this callback, whose sleep hands the
    # interpreter to another thread: the switch that real runs get by chance.
    callback = lambda phase, info: time.sleep(0)  # noqa: E731
    threshold = gc.get_threshold()
    gc.callbacks.append(callback)
    gc.set_threshold(50)
    try:
        threads = [threading.Thread(target=parse_many, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        gc.callbacks.remove(callback)
        gc.set_threshold(*threshold)
    assert errors == []


def test_a_process_forked_while_a_thread_parses_can_parse():
    """The project's workers are forked; a lock held by another thread at that moment would
    never be released in the child, and every parse there would wait forever."""
    import os
    import signal

    stop = threading.Event()

    def keep_parsing() -> None:
        i = 0
        while not stop.is_set():
            cpython_tree(f"{SCRIPT}\n# {i}\n", "busy.py")
            i += 1

    thread = threading.Thread(target=keep_parsing)
    thread.start()
    try:
        outcomes = []
        for attempt in range(5):
            time.sleep(0.01)
            pid = os.fork()
            if pid == 0:  # the child: parse once, and say so by the exit status
                try:
                    cpython_tree(SCRIPT + "\n# child\n", "child.py")
                    os._exit(0)
                except BaseException:
                    os._exit(1)
            deadline = time.monotonic() + 30
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    outcomes.append(os.waitstatus_to_exitcode(status))
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    outcomes.append("hung")
                    break
                time.sleep(0.01)
    finally:
        stop.set()
        thread.join()
    assert outcomes == [0] * 5
