"""Output folders that hold the previous complete result or the new one, never a mix.

Every command that writes a folder (`evaluate --out`, `status --out`, `quality --out`,
`diff --impact --out`) writes it through an `OutputFolder`:

    folder = OutputFolder("out/demo", inputs=[data, *ruleset_files], names=EVALUATE_FILES)
    folder.reserve()            # optional: refuse at once, before any work (inputs, lock, target)
    with folder:                # a staging folder beside the target
        with create(folder.path("contracts.csv")) as f:
            ...
    # leaving the block without an exception publishes (or call folder.publish() inside it)

What it guarantees (docs/data.md, "What the output folder guarantees"):
- Staging: files are written into `.DIR.points-new-XXXXXXXX` beside `DIR` (same parent, same
  file system), each created fresh (O_CREAT|O_EXCL|O_NOFOLLOW), so no link is ever followed and no
  existing file is ever truncated. On publish every file and the folder are fsynced, then the
  staging folder and `DIR` are exchanged in one `renameat2(RENAME_EXCHANGE)` and the old result,
  now under the staging name, is removed. A `DIR` that does not exist yet is a plain rename.
- Fallback where the exchange is unavailable (not Linux, or a file system answering EINVAL,
  ENOSYS, ENOTSUP): `DIR` is renamed to `.DIR.points-old-XXXXXXXX`, the staging folder renamed to
  `DIR`, and the old one removed. A crash between those two renames leaves no `DIR` but the old
  folder; the next run into `DIR` renames it back before anything else (recovery).
- A lock: `flock` on `.DIR.points-lock` beside `DIR` (never inside it) for the whole run. A second
  run refuses at once (`OutputBusy`), or waits for it with `wait=True` (`--wait`).
- Inputs: a folder that is an input's folder, or holds an input somewhere below it (compared by
  inode, `os.path.samefile`, on both the path as given and the path with links resolved), is
  refused before any work: publishing would move the input away.
- What may be replaced: a `DIR` that is a symbolic link is refused (the result would land
  wherever the link points); so is a file, and a folder holding anything but the files this
  command writes (the swap would delete those files).
- Failure: on any exception (an input error, a full disk, Ctrl-C, SIGTERM, which is turned into
  `Terminated` while a folder is open) the staging folder is removed and `DIR` is untouched. After
  a SIGKILL the next run into `DIR` removes the leftover staging folder: it holds the lock, so no
  one else is using it.
- An OSError while writing a file (a full disk) becomes an `OutputError` naming the file as the
  user knows it: "out/demo/contracts.csv: cannot write: No space left on device".
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import io
import os
import secrets
import shutil
import signal
import stat
import sys
import threading
from pathlib import Path
from typing import Iterable

from engine.readers import InputError

EVALUATE_FILES = ("contracts.csv", "rejects.csv", "rows.csv", "partners.csv", "partner_rules.csv", "manifest.json")
EVALUATE_XLSX_FILES = tuple(n.replace(".csv", ".xlsx") for n in EVALUATE_FILES)  # --output-format xlsx


def evaluate_files(output_format: str = "csv") -> tuple[str, ...]:
    """The files `points evaluate --out` writes in an output format (csv or xlsx)."""
    return EVALUATE_XLSX_FILES if output_format == "xlsx" else EVALUATE_FILES
STATUS_FILES = ("status.csv", "standing.csv")
QUALITY_FILES = ("kpis.csv", "kpis_wide.csv", "findings.csv", "quality_rejects.csv", "quality_set_aside.csv",
                 "manifest.json")
IMPACT_FILES = ("impact.csv",)

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_NO_EXCHANGE = (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP)
_SYSCALL_RENAMEAT2 = {"x86_64": 316, "aarch64": 276, "amd64": 316, "arm64": 276}


class OutputError(InputError):
    """An output that cannot be written, or a folder that must not be: the path and a sentence."""


class OutputBusy(OutputError):
    """Another run holds the folder's lock."""


class Terminated(KeyboardInterrupt):
    """SIGTERM while an output folder is open: unwinds like Ctrl-C, so the staging folder goes."""


class WriteError(OSError):
    """An OSError of a file created by `create`, naming that file (`filename`)."""


# --------------------------------------------------------------------------- files


class _NamedRaw(io.FileIO):
    """A raw file whose write errors name the file (the buffered layers above call this per flush)."""

    def write(self, data):
        try:
            return super().write(data)
        except OSError as err:
            raise WriteError(err.errno, err.strerror, self._shown) from None


def create(path: str | os.PathLike, *, binary: bool = False, append: bool = False,
           buffering: int = io.DEFAULT_BUFFER_SIZE):
    """A new file opened for writing: created fresh (O_EXCL, never truncating anything), never through
    a link (O_NOFOLLOW); text files are UTF-8 with newlines written as given. `append=True` opens a
    file created before (still never through a link). Write errors are `WriteError`s naming `path`."""
    path = os.fspath(path)
    flags = os.O_WRONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    flags |= os.O_APPEND if append else os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as err:
        raise WriteError(err.errno, err.strerror, path) from None
    raw = _NamedRaw(fd, "a" if append else "w", closefd=True)
    raw._shown = path
    buffered = io.BufferedWriter(raw, buffer_size=max(buffering, 1))
    if binary:
        return buffered
    return io.TextIOWrapper(buffered, encoding="utf-8", newline="")


# --------------------------------------------------------------------------- settling


class Settled:
    """An output file, complete, being hashed (sha256) and fsynced on background threads at once:
    the hash holds a core, the fsync waits on the disk. A writer that finishes one file while it still
    writes another settles the first at once, so the manifest's hash and the publish's fsync of it
    are not paid after the last file (at ten million contracts: 0.8 s of hashing and 0.65 s of
    fsync, one after the other, for contracts.csv and rows.csv).

    The digest is used only while the file is the one that was hashed (same device, inode, size and
    modification time); a file written again is hashed again. The publish fsyncs every file itself,
    so a background fsync that fails costs nothing but its time."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._identity = _identity(self.path)
        from engine.readers import sha256_of

        pool = _settling_pool()
        self._digest = pool.submit(sha256_of, self.path)  # hashlib lets go of the GIL over its chunks
        pool.submit(_fsync_quietly, self.path)

    def sha256(self, path: str | os.PathLike | None = None) -> str | None:
        """The file's sha256 hex digest (waits for it), or None when `path` (by default the file
        settled) is not that file any more or could not be read."""
        path = self.path if path is None else os.fspath(path)
        try:
            digest = self._digest.result()
        except OSError:
            return None
        if self._identity is None or _identity(path) != self._identity:
            return None
        return digest


def sha256_settled(path: str | os.PathLike, settled: Settled | None = None) -> str:
    """The sha256 of an output file: `settled`'s digest where it is still that file, else read now."""
    from engine.readers import sha256_of

    found = settled.sha256(path) if settled is not None else None
    return found if found is not None else sha256_of(path)


_POOL = None
_POOL_LOCK = threading.Lock()


def _settling_pool():
    """The threads that settle output files (two files hashed and fsynced at a time)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            from concurrent.futures import ThreadPoolExecutor

            _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="points-settle")
        return _POOL


def _identity(path: str) -> tuple | None:
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _fsync_quietly(path: str) -> None:
    try:
        _fsync_path(path)
    except OSError:
        pass


# --------------------------------------------------------------------------- the swap


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None


def exchange(parent_fd: int, a: str, b: str) -> None:
    """Swap the entries `a` and `b` of the folder `parent_fd` in one step (Linux renameat2); an OSError
    with EINVAL/ENOSYS/ENOTSUP where that cannot be done."""
    if not sys.platform.startswith("linux"):
        raise OSError(errno.ENOSYS, "renameat2 is Linux only")
    libc = _libc()
    if libc is None:
        raise OSError(errno.ENOSYS, "no C library")
    old, new = os.fsencode(a), os.fsencode(b)
    fn = getattr(libc, "renameat2", None)
    if fn is not None:
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        rc = fn(parent_fd, old, parent_fd, new, _RENAME_EXCHANGE)
    else:  # a C library older than renameat2 (glibc < 2.28): the system call itself
        number = _SYSCALL_RENAMEAT2.get(os.uname().machine)
        if number is None:
            raise OSError(errno.ENOSYS, "renameat2 unknown on this machine")
        rc = libc.syscall(ctypes.c_long(number), ctypes.c_int(parent_fd), ctypes.c_char_p(old),
                          ctypes.c_int(parent_fd), ctypes.c_char_p(new), ctypes.c_uint(_RENAME_EXCHANGE))
    if rc != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), b)


def _fsync_path(path: str, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(top: str) -> None:
    """fsync every file and folder below `top`, folders after their entries."""
    for root, dirs, files in os.walk(top, topdown=False):
        for name in files:
            _fsync_path(os.path.join(root, name))
        _fsync_path(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def _remove(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


def _block_signals():
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def _unblock_signals(previous) -> None:
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# --------------------------------------------------------------------------- the folder


class OutputFolder:
    """One command's output folder: lock, input check, staging, publish, cleanup (module docstring).

    `target` as the user gave it (messages show it so); `inputs` the files the command reads
    (None items are skipped); `names` the files the command writes, the only entries a folder it
    replaces may hold; `wait` waits for another run's lock instead of refusing.
    """

    def __init__(self, target: str | os.PathLike, inputs: Iterable = (), names: Iterable[str] = (),
                 wait: bool = False):
        self.shown = os.fspath(target).rstrip("/\\") or os.fspath(target)
        self.target = Path(os.path.abspath(target))
        self.parent = self.target.parent
        self.name = self.target.name
        self.inputs = [os.fspath(p) for p in inputs if p is not None]
        self.names = frozenset(names)
        self.wait = wait
        self.staging: Path | None = None
        self.published = False
        self._lock = None
        self._signal = None

    # ---- before any work

    def reserve(self) -> "OutputFolder":
        """Check the inputs, take the lock, recover or remove what a killed run left, check the target.
        Raises OutputError / OutputBusy. Idempotent."""
        if self._lock is not None:
            return self
        if not self.name or self.name in (".", ".."):
            raise OutputError(self.shown, "cannot be an output folder (give a folder name)")
        self._check_inputs()
        try:
            self.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(self.shown, f"cannot create the folder: {err.strerror or err}") from None
        self._take_lock()
        try:
            self._recover()
            self._check_target()
        except BaseException:
            self._release()
            raise
        return self

    def _check_inputs(self) -> None:
        for given in self.inputs:
            if not os.path.exists(given):
                continue
            if self._holds(given):
                raise OutputError(self.shown, f"is the folder of an input ({given}), or holds it: an output "
                                  "never replaces an input; choose another --out")

    def _holds(self, path: str) -> bool:
        """Whether the target folder is `path`'s folder or one above it (as given or resolved)."""
        if not os.path.exists(self.target):
            return False  # nothing is below a folder that does not exist
        for start in (os.path.abspath(path), os.path.realpath(path)):
            here = os.path.dirname(start)
            while True:
                try:
                    if os.path.samefile(here, self.target):
                        return True
                except OSError:
                    pass
                up = os.path.dirname(here)
                if up == here:
                    break
                here = up
        return False

    def _take_lock(self) -> None:
        import fcntl

        lock_path = self.parent / f".{self.name}.points-lock"
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0), 0o666)
        except OSError as err:
            raise OutputError(self.shown, f"cannot create its lock file {lock_path}: {err.strerror or err}") from None
        lock = os.fdopen(fd, "r+b", buffering=0)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
        except BlockingIOError:
            lock.close()
            raise OutputBusy(self.shown, "another run is writing this folder; wait for it to finish, or "
                             "run with --wait to wait for it") from None
        except BaseException:
            lock.close()
            raise
        self._lock = lock

    def _leftovers(self, kind: str) -> list[Path]:
        prefix = f".{self.name}.points-{kind}-"
        try:
            entries = os.listdir(self.parent)
        except OSError:
            return []
        return [self.parent / e for e in sorted(entries) if e.startswith(prefix)]

    def _recover(self) -> None:
        """Under the lock: a crash between the fallback's two renames left no target but the old
        result: put it back. Then remove staging and old folders of killed runs."""
        olds = self._leftovers("old")
        if olds and not os.path.lexists(self.target):
            newest = max(olds, key=lambda p: p.lstat().st_mtime_ns)
            os.rename(newest, self.target)
            olds.remove(newest)
        for path in olds + self._leftovers("new"):
            _remove(str(path))

    def _check_target(self) -> None:
        try:
            st = os.lstat(self.target)
        except FileNotFoundError:
            return
        except OSError as err:
            raise OutputError(self.shown, f"cannot be used as an output folder: {err.strerror or err}") from None
        if stat.S_ISLNK(st.st_mode):
            raise OutputError(self.shown, f"is a symbolic link (to {os.readlink(self.target)}); an output folder "
                              "is replaced as a whole, so give the folder itself or a new one")
        if not stat.S_ISDIR(st.st_mode):
            raise OutputError(self.shown, "is a file, not a folder")
        foreign = sorted(e for e in os.listdir(self.target)
                         if e not in self.names and not e.startswith(".points-parts-"))  # parts of a killed split
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise OutputError(self.shown, f"holds files this command does not write ({shown}); the new result "
                              "replaces the whole folder, so choose an empty or new folder")

    # ---- the run

    def __enter__(self) -> "OutputFolder":
        self.reserve()
        try:
            for _ in range(100):
                path = self.parent / f".{self.name}.points-new-{secrets.token_hex(4)}"
                try:
                    os.mkdir(path)
                except FileExistsError:
                    continue
                self.staging = path
                break
            else:
                raise OutputError(self.shown, "cannot create a staging folder beside it")
        except OSError as err:
            self._release()
            raise OutputError(self.shown, f"cannot create a staging folder beside it: {err.strerror or err}") from None
        except BaseException:
            self._release()
            raise
        self._catch_sigterm()
        return self

    def path(self, name: str) -> Path:
        """Where to create the output file `name` (in the staging folder, until published)."""
        if self.staging is None:
            raise RuntimeError("OutputFolder.path outside its with-block")
        return self.staging / name

    def publish(self) -> None:
        """fsync the new result and swap it in atomically; the old result is then removed."""
        if self.published:
            return
        staging = str(self.staging)
        _fsync_tree(staging)
        old = None
        parent_fd = os.open(self.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
        blocked = _block_signals()  # Ctrl-C / SIGTERM wait until the renames are done
        try:
            if not os.path.lexists(self.target):
                os.rename(staging, self.target)
            else:
                try:
                    exchange(parent_fd, self.staging.name, self.name)
                    old = staging  # the old result now lives under the staging name
                except OSError as err:
                    if err.errno not in _NO_EXCHANGE:
                        raise
                    old = str(self.parent / f".{self.name}.points-old-{secrets.token_hex(4)}")
                    os.rename(self.target, old)
                    try:
                        os.rename(staging, self.target)
                    except OSError:
                        os.rename(old, self.target)  # the previous result back where it was
                        raise
            self.published = True
            os.fsync(parent_fd)
        finally:
            os.close(parent_fd)
            _unblock_signals(blocked)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def __exit__(self, kind, err, tb) -> bool:
        try:
            if kind is None and not self.published:
                try:
                    self.publish()
                except OSError as failure:
                    self._discard()
                    raise self._named(failure) from None
            if not self.published:
                self._discard()
        finally:
            self._restore_sigterm()
            self._release()
        if isinstance(err, OSError) and not isinstance(err, InputError):
            named = self._named(err)
            if named is not err:
                raise named from None
        return False

    def _named(self, err: OSError) -> Exception:
        """An OSError about a file in the staging folder as an OutputError naming the file as the user
        knows it (DIR/name); other errors as they are."""
        filename = err.filename
        if isinstance(filename, bytes):
            filename = os.fsdecode(filename)
        if not isinstance(filename, str) or self.staging is None:
            return err
        staging = str(self.staging)
        if filename == staging or filename.startswith(staging + os.sep):
            rest = filename[len(staging):].lstrip(os.sep)
            shown = f"{self.shown}/{rest}" if rest else self.shown
            return OutputError(shown, f"cannot write: {err.strerror or err}")
        return err

    def _discard(self) -> None:
        if self.staging is not None and not self.published:
            shutil.rmtree(self.staging, ignore_errors=True)

    def __del__(self):  # a folder reserved by a command that then failed before writing
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file drops the flock
            self._lock = None

    def _catch_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_term(signum, frame):
            raise Terminated("terminated")

        try:
            self._signal = (signal.signal(signal.SIGTERM, on_term),)
        except (ValueError, OSError):
            self._signal = None

    def _restore_sigterm(self) -> None:
        if self._signal is not None:
            try:
                signal.signal(signal.SIGTERM, self._signal[0])
            except (ValueError, OSError, TypeError):
                pass
            self._signal = None


def optional(target, inputs: Iterable = (), names: Iterable[str] = (), wait: bool = False) -> OutputFolder | None:
    """An OutputFolder for `target`, reserved at once (refusing before any work), or None without one."""
    if target is None or target == "":
        return None
    return OutputFolder(target, inputs, names, wait).reserve()


def program_files(program) -> list[str]:
    """The ruleset files of a loaded program (engine.program.Program), as inputs."""
    return [v.path for v in program.versions]
