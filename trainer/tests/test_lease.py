"""The output folder's lease holds across hosts sharing a volume (two hosts played by injected names)."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from llama_nas_trainer.lease import Lease, LeaseBusy, read_holder, take_over_abandoned
from llama_nas_trainer.train import OutputLock, TrainerError

HOST_A = dict(host="host-a", machine="boot-a/pid:[1]", pid=100)
HOST_B = dict(host="host-b", machine="boot-b/pid:[1]", pid=100)


def age(path, seconds):
    """What a holder that died (or lost the volume) leaves: a lease not touched for `seconds`."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_live_lease_of_another_host_is_not_taken(tmp_path):
    path = str(tmp_path / ".lock")
    a = Lease(path, ttl_s=30, **HOST_A)
    assert a.try_acquire() is None
    holder = read_holder(path)
    assert holder["host"] == "host-a" and holder["pid"] == 100 and holder["ttlMs"] == 30_000
    b = Lease(path, ttl_s=30, **HOST_B)
    assert b.try_acquire()["host"] == "host-a"
    age(path, 29)
    assert b.try_acquire()["host"] == "host-a"
    with pytest.raises(LeaseBusy, match="held by pid 100 on host host-a"):
        b.acquire(wait_s=0.2, poll_s=0.05)
    a.release()
    assert not os.path.exists(path)


def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_remove_it(tmp_path):
    path = str(tmp_path / ".lock")
    a = Lease(path, ttl_s=30, **HOST_A)
    assert a.try_acquire() is None
    age(path, 31)
    b = Lease(path, ttl_s=30, **HOST_B)
    assert b.try_acquire() is None
    assert read_holder(path)["host"] == "host-b"
    assert not a.held() and not a.refresh()
    a.release()
    assert b.held()
    assert os.listdir(tmp_path) == [".lock"]


def test_an_exited_process_of_this_machine_is_not_waited_for(tmp_path):
    path = str(tmp_path / ".lock")
    exited = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                            text=True, check=True)
    gone = int(exited.stdout)
    assert Lease(path, pid=gone).try_acquire() is None
    mine = Lease(path)
    assert mine.try_acquire() is None
    assert read_holder(path)["pid"] == os.getpid()
    assert Lease(path).try_acquire()["pid"] == os.getpid()
    mine.release()
    # the same pid in another kernel or pid namespace proves nothing: it waits
    assert Lease(path, pid=gone, **{k: v for k, v in HOST_A.items() if k != "pid"}).try_acquire() is None
    assert Lease(path, host="host-a", machine="boot-a/pid:[2]").try_acquire()["pid"] == gone


def test_a_late_contender_puts_back_the_fresh_lease_it_renamed_away(tmp_path):
    path = str(tmp_path / ".lock")
    a = Lease(path, ttl_s=30, **HOST_A)
    assert a.try_acquire() is None
    judged = read_holder(path)
    age(path, 31)
    b = Lease(path, ttl_s=30, **HOST_B)
    assert b.try_acquire() is None
    take_over_abandoned(path, judged, "late-contender")
    assert b.held() and not a.held()
    assert os.listdir(tmp_path) == [".lock"]


def test_the_holder_keeps_it_alive_and_hears_when_it_is_lost(tmp_path):
    path = str(tmp_path / ".lock")
    lost = []
    a = Lease(path, ttl_s=0.3, on_lost=lost.append, **HOST_A).acquire(wait_s=1)
    age(path, 10)
    time.sleep(0.25)  # a refresh (every 0.1 s) has touched it since
    assert Lease(path, ttl_s=0.3, **HOST_B).try_acquire()["host"] == "host-a"
    os.unlink(path)
    assert Lease(path, ttl_s=30, **HOST_B).try_acquire() is None
    deadline = time.monotonic() + 10
    while not lost and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lost == [path]
    a.release()
    assert read_holder(path)["host"] == "host-b"


def test_output_lock_refuses_a_folder_another_host_writes_to(tmp_path):
    out = str(tmp_path)
    other = Lease(os.path.join(out, ".trainer.lock"), **HOST_B)
    assert other.try_acquire() is None
    with pytest.raises(TrainerError, match="pid 100 on host host-b") as e:
        with OutputLock(out, wait_s=0.2):
            pass
    assert e.value.kind == "busy"
    other.release()
    with OutputLock(out, wait_s=0.2):
        holder = read_holder(os.path.join(out, ".trainer.lock"))
        assert holder["host"] == socket.gethostname() and holder["pid"] == os.getpid()
    assert not os.path.exists(os.path.join(out, ".trainer.lock"))


def test_exactly_one_of_several_processes_takes_an_abandoned_lease(tmp_path):
    path = str(tmp_path / ".lock")
    assert Lease(path, **HOST_A).try_acquire() is None
    age(path, 120)
    go = str(tmp_path / "go")
    script = (
        "import os, sys, time\n"
        f"sys.path.insert(0, {json.dumps(os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))})\n"
        "from llama_nas_trainer.lease import Lease\n"
        f"while not os.path.exists({json.dumps(go)}): time.sleep(0.002)\n"
        f"print('won' if Lease({json.dumps(path)}, host='racer-' + sys.argv[1]).try_acquire() is None else 'lost')\n"
    )
    racers = [subprocess.Popen([sys.executable, "-c", script, str(i)], stdout=subprocess.PIPE, text=True)
              for i in range(4)]
    time.sleep(1.5)
    open(go, "w").close()
    outcomes = [r.communicate(timeout=60)[0].strip() for r in racers]
    assert sorted(outcomes) == ["lost", "lost", "lost", "won"]
    assert read_holder(path)["host"].startswith("racer-")
