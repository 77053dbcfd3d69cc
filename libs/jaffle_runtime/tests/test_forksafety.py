"""Whether a warm parent may fork, with threads started in a fresh interpreter: Python's, native ones
nobody named, and a native one named as a library that makes itself ready for a fork names its own."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# A native thread (not a threading.Thread) that sleeps, named NAME with prctl(PR_SET_NAME) if one is given.
NATIVE = """
import _thread, ctypes, time
def sleeper(name):
    if name:
        ctypes.CDLL(None).prctl(15, name.encode())
    time.sleep(30)
for name in NAMES:
    _thread.start_new_thread(sleeper, (name,))
time.sleep(0.5)
"""


def _verdict(setup: str) -> str:
    script = setup + "\nfrom jaffle_runtime.forksafety import unsafe_to_fork\nprint(unsafe_to_fork())\n"
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_one_thread_and_no_loop_may_fork():
    assert _verdict("") == "None"


def test_a_python_thread_makes_it_unsafe():
    setup = "import threading, time\nthreading.Thread(target=time.sleep, args=(30,), daemon=True).start()"
    assert _verdict(setup).startswith("2 threads alive")


def test_a_native_thread_threading_does_not_count_makes_it_unsafe():
    assert _verdict("NAMES = ['']\n" + NATIVE) == "native threads alive beside the main thread: 1 unnamed"


def test_a_named_native_thread_is_named_and_a_fork_ready_one_is_allowed():
    assert _verdict("NAMES = ['grpc_poller']\n" + NATIVE).endswith(": grpc_poller")
    assert _verdict("NAMES = ['jemalloc_bg_thd']\n" + NATIVE) == "None"


def test_a_running_event_loop_makes_it_unsafe():
    setup = "import asyncio\nfrom jaffle_runtime.forksafety import unsafe_to_fork\n"
    setup += "async def main():\n    print(unsafe_to_fork())\nasyncio.run(main())\nraise SystemExit\n"
    done = subprocess.run([sys.executable, "-c", setup], capture_output=True, text=True)
    assert done.stdout.strip() == "an event loop is running", done.stderr
