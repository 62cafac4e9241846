"""Signals a training process answers: SIGTERM (what cluster schedulers send before a
kill) ends a run as Ctrl-C does, recorded as ``interrupted`` with its checkpoint kept."""
import contextlib
import signal
import threading


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Handle SIGTERM (what cluster schedulers send before a kill) like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
