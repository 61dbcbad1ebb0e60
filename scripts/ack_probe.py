#!/usr/bin/env python3
"""Acknowledgment latency of two running `onit run` daemons, probed in turn.

Each daemon must use the Maildir source and the file transport, with its
Maildir at DIR/Maildir and its transport folder at DIR/out (the layout the
scale bench keeps with ONIT_SCALE_KEEP=1), and accept mail to
support@jac.example from acme.example without proof of the sender
(`trust.acknowledge = "any"`), with its acknowledgment rate limits raised.

A probe writes a new client mail to DIR/Maildir/tmp, starts the clock,
renames it into new/ and stops the clock when a file naming the probe's
Message-ID is moved into DIR/out (inotify, as the bench watches). Each round
probes both daemons in a random order; the pause before each probe is
--pause seconds (the bench pauses 1 to 2 s between rounds).

    scripts/ack_probe.py DIR_A DIR_B [--rounds 30] [--pause 0.3]

prints the medians, the quartiles and the median of the rounds' ratios (A/B).
Used for the Scale section's sixth round in README.md.
"""

import argparse
import ctypes
import email.utils
import os
import random
import select
import statistics
import struct
import time

IN_MOVED_TO = 0x80
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


class Landing:
    """Files moved into one folder, seen through inotify."""

    def __init__(self, folder):
        self.folder = folder
        self.fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or _libc.inotify_add_watch(self.fd, folder.encode(), IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), f"inotify on {folder}")

    def names(self):
        out = []
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return out
            i = 0
            while i + 16 <= len(buf):
                _wd, _mask, _cookie, length = struct.unpack_from("iIII", buf, i)
                out.append(buf[i + 16 : i + 16 + length].rstrip(b"\0").decode())
                i += 16 + length

    def wait_for(self, needle, limit=30.0):
        started = time.monotonic()
        while time.monotonic() - started < limit:
            for name in self.names():
                try:
                    with open(os.path.join(self.folder, name), "rb") as f:
                        if needle.encode() in f.read():
                            return True
                except FileNotFoundError:
                    pass
            select.select([self.fd], [], [], 0.1)
        return False


def probe(root, landing, tag):
    """One probe's latency in ms."""
    now = time.time()
    mid = f"{tag}.{int(now * 1000)}@acme.example"
    raw = (
        f"From: Probe <probe@{tag}.acme.example>\nTo: support@jac.example\n"
        f"Subject: Latency probe {tag}\nMessage-ID: <{mid}>\n"
        f"Date: {email.utils.formatdate(now)}\n\nThe dashboard is down.\n"
    )
    tmp = os.path.join(root, "Maildir", "tmp", tag)
    with open(tmp, "w") as f:
        f.write(raw)
    landing.names()  # what landed before this probe is not its acknowledgment
    started = time.perf_counter()
    os.rename(tmp, os.path.join(root, "Maildir", "new", tag))
    if not landing.wait_for(mid):
        raise SystemExit(f"no acknowledgment of {tag} in {root}/out within 30 s")
    return (time.perf_counter() - started) * 1000


def quartiles(xs):
    q = statistics.quantiles(xs, n=4)
    return f"{q[0]:.2f}/{q[1]:.2f}/{q[2]:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--pause", type=float, default=0.3)
    args = ap.parse_args()
    dirs = [args.a, args.b]
    landings = [Landing(os.path.join(d, "out")) for d in dirs]
    run = f"p{random.randrange(1 << 30):x}"
    lat = ([], [])
    ratios = []
    for r in range(args.rounds):
        got = {}
        for k in random.sample([0, 1], 2):
            time.sleep(args.pause)
            got[k] = probe(dirs[k], landings[k], f"{run}x{k}r{r}")
        lat[0].append(got[0])
        lat[1].append(got[1])
        ratios.append(got[0] / got[1])
    print(
        f"A {statistics.median(lat[0]):.2f} ms (quartiles {quartiles(lat[0])}), "
        f"B {statistics.median(lat[1]):.2f} ms (quartiles {quartiles(lat[1])}), "
        f"median ratio {statistics.median(ratios):.3f}, {args.rounds} rounds, pause {args.pause} s"
    )


if __name__ == "__main__":
    main()
