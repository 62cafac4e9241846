"""Claims on folders that several processes may share: a run folder, a data directory.

A resubmitted cluster job, a second terminal or a sweep worker must never train the
same run as a live process, and must never be blocked by one that died. A claim is
therefore an OS-level lock (``flock``) on a file in the folder: the kernel drops it
when its process ends, however it ends (SIGKILL, OOM, a lost node), so a stale claim
is simply taken over by the next process. The lock file holds the holder's host, pid
and start time, so a refusal names who holds the folder.

Shared file systems: on NFS, Linux maps ``flock`` to byte-range locks that the server
arbitrates between machines, so two machines cannot both hold one folder. Some shared
file systems refuse locks altogether (Lustre mounted without ``flock``, some FUSE
mounts); there a claim falls back to a *lease*: a file created with ``O_EXCL`` whose
modification time a heartbeat thread refreshes. A lease not refreshed for
``stale_after_s`` belongs to a dead process and is taken over (renamed away first, an
atomic step that only one contender wins).

Claims are re-entrant within a process (a run that calls another run on the same
folder), and a process never opens a lock file it holds a second time: with the
byte-range locks of NFS, closing any descriptor of a file drops all of the process's
locks on it.
"""
import contextlib
import errno
import fcntl
import glob
import json
import os
import shutil
import socket
import threading
import time
import uuid

from experiments.errors import RunLockedError

LOCK_NAME = ".lock"
# errnos that mean "this file system does not do locks", not "someone holds it"
_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS}
_HELD: dict = {}  # realpath of lock file -> [Claim, depth] for claims of this process


def _holder_info() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def describe(info) -> str:
    """A holder's info as words, for messages."""
    if not info:
        return "another process (no holder information yet)"
    return f"pid {info.get('pid')} on host {info.get('host')} (since {info.get('since')})"


def _parse(text):
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None


def _read_info(path):
    try:
        with open(path) as f:
            return _parse(f.read())
    except OSError:
        return None


class Claim:
    """An exclusive claim on ``path`` (a lock file); see the module docstring.

    ``what`` names the claimed thing in messages ("run folder results/runs/<experiment>/<run-id>").
    ``stale_after_s`` and ``heartbeat_s`` only matter in lease mode.
    """

    def __init__(self, path: str, what: str, stale_after_s: float = 120.0,
                 heartbeat_s: float = 20.0):
        self.path = path
        self.what = what
        self.stale_after_s = stale_after_s
        self.heartbeat_s = heartbeat_s
        self.took_over = None  # holder info of a dead process whose claim was taken over
        self._fd = None
        self._lease = None
        self._stop = None

    @property
    def _key(self):
        return os.path.realpath(self.path)

    # -- acquiring ----------------------------------------------------------------
    def acquire(self, wait: bool = False, poll_s: float = 1.0, on_wait=None) -> "Claim":
        """Take the claim, or raise ``RunLockedError`` naming the holder (``wait=False``),
        or block until it is free (``wait=True``; ``on_wait(holder_text)`` is called once)."""
        held = _HELD.get(self._key)
        if held:
            held[1] += 1
            return self
        told = False
        while True:
            holder = self._try_acquire()
            if holder is None:
                _HELD[self._key] = [self, 1]
                return self
            if not wait:
                raise RunLockedError(
                    f"{self.what} is in use by {describe(holder)}. Two processes on one "
                    "folder would interleave their results. Wait for it to finish, stop it, "
                    "or choose another run_id=; a claim of a process that died is taken over "
                    "automatically.")
            if not told and on_wait:
                on_wait(describe(holder))
                told = True
            time.sleep(poll_s)

    def _try_acquire(self):
        """None when acquired, else the holder's info (possibly {})."""
        if self._lease is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return self._holder_info_written()
            except OSError as e:
                os.close(fd)
                if e.errno not in _UNSUPPORTED:
                    raise
                self._lease = self.path + ".lease"  # this file system does no locks
                return self._try_acquire()
            # content left by a holder that died; read through the locked descriptor (on
            # NFS, opening and closing the file again would drop this process's lock)
            self.took_over = _parse(os.pread(fd, 4096, 0).decode(errors="replace"))
            self._fd = fd
            self._write_info(fd)
            return None
        return self._try_lease()

    def _holder_info_written(self, wait_s: float = 2.0) -> dict:
        """The holder's info; a holder that has just taken the lock writes it a moment
        later, so an empty file is read again for up to ``wait_s``."""
        deadline = time.time() + wait_s
        while True:
            info = _read_info(self.path)
            if info or time.time() > deadline:
                return info or {}
            time.sleep(0.05)

    def _write_info(self, fd):
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_holder_info()).encode(), 0)
        os.fsync(fd)

    def _try_lease(self):
        try:
            fd = os.open(self._lease, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            info = _read_info(self._lease) or {}
            try:
                age = time.time() - os.stat(self._lease).st_mtime
            except FileNotFoundError:
                return self._try_lease()
            if age <= self.stale_after_s:
                return info
            stale = f"{self._lease}.stale-{uuid.uuid4().hex[:8]}"
            try:
                os.rename(self._lease, stale)  # atomic: one contender wins the take-over
            except FileNotFoundError:
                return self._try_lease()
            os.remove(stale)
            self.took_over = info
            return self._try_lease()
        self._write_info(fd)
        os.close(fd)
        self._stop = threading.Event()
        threading.Thread(target=self._heartbeat, args=(self._stop,), daemon=True).start()
        return None

    def _heartbeat(self, stop):
        while not stop.wait(self.heartbeat_s):
            try:
                os.utime(self._lease)
            except OSError:
                return

    # -- releasing ----------------------------------------------------------------
    def release(self) -> None:
        held = _HELD.get(self._key)
        if not held:
            return
        held[1] -= 1
        if held[1] > 0:
            return
        del _HELD[self._key]
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)  # an empty lock file: released cleanly
            except OSError:
                pass
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._stop is not None:
            self._stop.set()
            try:
                os.remove(self._lease)
            except FileNotFoundError:
                pass

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def is_held(path: str, stale_after_s: float = 120.0) -> bool:
    """Whether a live process (this one included) holds the claim on ``path``."""
    if os.path.realpath(path) in _HELD:
        return True
    lease = path + ".lease"
    if os.path.exists(lease):
        try:
            return time.time() - os.stat(lease).st_mtime <= stale_after_s
        except FileNotFoundError:
            return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


def run_claim(run_dir: str) -> Claim:
    """The claim on one run folder (the folder must exist)."""
    return Claim(os.path.join(run_dir, LOCK_NAME), what=f"run folder {run_dir}")


@contextlib.contextmanager
def preparing(data_dir: str, name: str, stale_patterns=()):
    """Hold the claim on preparing dataset ``name`` in ``data_dir``, waiting for another
    process that prepares it (so the second uses the first's result instead of racing
    it). Once held, what a killed preparation left (``stale_patterns``, globs) is removed:
    no live process owns it."""
    os.makedirs(data_dir, exist_ok=True)
    claim = Claim(os.path.join(data_dir, f".{name}.prepare.lock"),
                  what=f"{name} preparation in {data_dir}")
    claim.acquire(wait=True, on_wait=lambda who: print(
        f"waiting for {who}, which is preparing {name} in {data_dir}", flush=True))
    try:
        for pattern in stale_patterns:
            for path in glob.glob(pattern):
                print(f"removing {path}, left by a preparation that did not finish", flush=True)
                shutil.rmtree(path, ignore_errors=True)
        yield
    finally:
        claim.release()
