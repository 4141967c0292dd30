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
