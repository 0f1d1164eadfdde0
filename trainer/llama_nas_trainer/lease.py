"""A lease on a shared folder that holds across hosts sharing a volume (NFS, a Docker volume).

The lease file names its holder (host, pid, a random token) and is taken atomically with
link(2), which fails when the file exists; its holder keeps it alive by touching its mtime. A
lease not touched for longer than its time-to-live is abandoned (its holder died or lost the
volume) and is taken over atomically by renaming it away: of several contenders one rename
succeeds. src/lease.ts implements the same protocol for the engine. Hosts are assumed to keep
their clocks within a few seconds of each other (NTP), well inside the TTL. One shortcut: a lease left
by a process of this very kernel and pid namespace (same boot id and namespace, so its pid means the same
process here) that has exited is abandoned at once.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import socket
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Optional

DEFAULT_TTL_S = 60.0
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}


def machine_id() -> Optional[str]:
    """This kernel's boot id and this process's pid namespace, or None off Linux."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except PermissionError:
        return True
    except (ProcessLookupError, OverflowError, ValueError):
        return False


def _gone_here(holder: Optional[Dict[str, Any]], me: Dict[str, Any]) -> bool:
    """Whether `holder` is a process of this machine and pid namespace that has exited."""
    return (holder is not None and holder.get("host") == me["host"] and bool(holder.get("machine"))
            and holder.get("machine") == me["machine"] and not _process_alive(int(holder["pid"])))


def read_holder(path: str) -> Optional[Dict[str, Any]]:
    """What a lease file says, or None while it is being written or when it is not a lease."""
    try:
        with open(path, encoding="utf-8") as f:
            holder = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(holder, dict) or not all(k in holder for k in ("host", "pid", "token", "ttlMs")):
        return None
    return holder


def describe(holder: Optional[Dict[str, Any]]) -> str:
    if holder is None:
        return "another process"
    return f"pid {holder['pid']} on host {holder['host']} since {holder.get('acquiredAt', '?')}"


def _create(path: str, holder: Dict[str, Any]) -> bool:
    """Creates the lease file whole, or not at all when it exists."""
    tmp = f"{path}.{holder['token']}.new"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(holder, f)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError as e:
        if e.errno not in _NO_HARD_LINKS:
            raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    # a file system without hard links: an exclusive create, briefly empty (read as held, not abandoned)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(holder, f)
    return True


def take_over_abandoned(path: str, judged: Optional[Dict[str, Any]], token: str) -> None:
    """Renames an abandoned lease away (one contender wins); puts back a fresh one taken by mistake."""
    aside = f"{path}.{token}.stale"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    taken = read_holder(aside)
    same = (taken or {}).get("token") == judged["token"] if judged is not None else taken is None
    if not same:
        try:
            os.link(aside, path)
        except FileExistsError:
            pass
    with contextlib.suppress(FileNotFoundError):
        os.unlink(aside)


class Lease:
    """`Lease(path).acquire(wait_s)` or `with Lease(path).acquire(wait_s):` holds it, refreshed by a thread."""

    def __init__(self, path: str, ttl_s: float = DEFAULT_TTL_S, host: Optional[str] = None,
                 pid: Optional[int] = None, machine: Optional[str] = "", on_lost: Optional[Callable[[str], None]] = None
                 ) -> None:
        """host, pid and machine ("" = this one's) are injected by tests to play several hosts."""
        self.path = path
        self.ttl_s = ttl_s
        self.host = host or socket.gethostname()
        self.pid = os.getpid() if pid is None else pid
        self.machine = machine_id() if machine == "" else machine
        self.on_lost = on_lost
        self.holder: Optional[Dict[str, Any]] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _new_holder(self) -> Dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "token": secrets.token_hex(12), "ttlMs": self.ttl_s * 1000,
                "acquiredAt": datetime.now(timezone.utc).isoformat(), "machine": self.machine}

    def try_acquire(self) -> Optional[Dict[str, Any]]:
        """Takes the lease if free or abandoned and returns None; else returns the live holder (or {})."""
        me = self._new_holder()
        for _ in range(3):
            if _create(self.path, me):
                self.holder = me
                return None
            holder = read_holder(self.path)
            try:
                touched = os.stat(self.path).st_mtime
            except FileNotFoundError:
                continue
            ttl_s = holder["ttlMs"] / 1000 if holder else self.ttl_s
            if time.time() - touched <= ttl_s and not _gone_here(holder, me):
                return holder or {}
            take_over_abandoned(self.path, holder, me["token"])
        return read_holder(self.path) or {}

    def acquire(self, wait_s: float, poll_s: float = 0.5) -> "Lease":
        """Waits up to wait_s for the lease; raises LeaseBusy naming the holder; keeps it alive once held."""
        deadline = time.monotonic() + wait_s
        while True:
            busy = self.try_acquire()
            if busy is None:
                self._keep_alive()
                return self
            if time.monotonic() >= deadline:
                raise LeaseBusy(self.path, busy or None)
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))

    def held(self) -> bool:
        return self.holder is not None and (read_holder(self.path) or {}).get("token") == self.holder["token"]

    def refresh(self) -> bool:
        """Touches the lease; False (and no touch) when another holder took it over."""
        if not self.held():
            return False
        os.utime(self.path)
        return True

    def _keep_alive(self) -> None:
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(self.ttl_s / 3):
                try:
                    ok = self.refresh()
                except OSError:
                    ok = False
                if not ok:
                    if self.on_lost is not None:
                        self.on_lost(self.path)
                    return

        self._thread = threading.Thread(target=loop, name="lease-refresh", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.held():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        self.holder = None

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *_exc) -> None:
        self.release()


class LeaseBusy(Exception):
    def __init__(self, path: str, holder: Optional[Dict[str, Any]]) -> None:
        super().__init__(f"{path}: held by {describe(holder)}")
        self.path = path
        self.holder = holder
