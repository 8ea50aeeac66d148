"""kill -9 a signing process again and again: no one-time index may ever be used twice.

A child process loads an XMSS hybrid key and signs in a tight loop, appending each signature to
a log as soon as ``sign`` returns; the parent SIGKILLs it at random moments and restarts it until
the key is exhausted. Every logged index must be distinct, below the persisted counter, and its
signature must verify; the final child must stop with ``KeyExhausted``.
"""

from __future__ import annotations

import os
import random
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from poqw.crypto.hybrid import verify_hybrid
from poqw.crypto.keystore import load_key, new_key, read_public_key, show_key
from poqw.errors import KeyExhausted

MESSAGE = b"poqw crash test"
EXHAUSTED_EXIT = 3

CHILD = """
import os, sys
from poqw.crypto.keystore import load_key
from poqw.errors import KeyExhausted
key_path, log_path, message, exhausted_exit = sys.argv[1:]
signer = load_key(key_path, "pw", fast=False)
log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
os.write(log, b"\\n")  # end a line the previous run may have left half written
print("ready", flush=True)
while True:
    try:
        sig = signer.sign(message.encode())
    except KeyExhausted:
        os.write(log, b"exhausted\\n")
        sys.exit(int(exhausted_exit))
    os.write(log, b"%d %s\\n" % (sig.one_time_index, sig.to_bytes().hex().encode()))
    print("signed", flush=True)
"""


def read_line(child: subprocess.Popen[bytes], timeout: float) -> bytes:
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], timeout)
    return child.stdout.readline().strip() if ready else b""


@pytest.mark.slow
def test_sigkill_never_reuses_a_one_time_index(tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    print(f"random seed {seed} (replay: set rng = random.Random({seed}))")
    rng = random.Random(seed)
    key_path, log_path = tmp_path / "k.key", tmp_path / "signatures.log"
    new_key(key_path, "pw", "ecdsa+xmss", height=5, scrypt_log2_n=10, fast=False)
    kills = 0
    exhausted = False
    deadline = time.monotonic() + 120
    while not exhausted and time.monotonic() < deadline:
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                str(key_path),
                str(log_path),
                MESSAGE.decode(),
                str(EXHAUSTED_EXIT),
            ],
            stdout=subprocess.PIPE,
        )
        try:
            assert read_line(child, 30) == b"ready", "child did not start"
            # let it make 0..3 signatures, then kill it a random fraction of a signature later,
            # so the kills land at every stage of signing whatever the machine's speed
            for _ in range(rng.randint(0, 3)):
                if read_line(child, 30) != b"signed":
                    break
            time.sleep(rng.uniform(0.0, 0.01))
            if child.poll() is None:
                os.kill(child.pid, signal.SIGKILL)
                kills += 1
            code = child.wait(10)
            exhausted = code == EXHAUSTED_EXIT
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            assert child.stdout is not None
            child.stdout.close()
    print(f"{kills} kills before exhaustion")
    assert exhausted, "the key was never exhausted within the time limit"
    assert kills >= 3

    lines = log_path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and lines[-2] == b"exhausted"
    # a kill can cut a run's last line short: keep only complete records
    hex_size = 2 * read_public_key(key_path).signature_size()
    complete = re.compile(rb"(\d+) ([0-9a-f]{%d})" % hex_size)
    records = [m.groups() for m in map(complete.fullmatch, lines[:-2]) if m]
    indices = [int(r[0]) for r in records]
    assert len(indices) == len(set(indices)), "a one-time index was used twice"
    used = show_key(key_path)["used"]
    assert used == 32 and max(indices) < used
    assert len(indices) >= 32 - kills  # a kill loses at most the one index it had reserved
    public = read_public_key(key_path)
    for r in records:
        verify_hybrid(public, MESSAGE, bytes.fromhex(r[1].decode()))
    with pytest.raises(KeyExhausted):
        load_key(key_path, "pw", fast=False).sign(MESSAGE)
