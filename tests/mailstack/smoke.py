#!/usr/bin/env python3
"""Manual smoke test for the mail stack started by mailstack.sh.

    python3 smoke.py DIR            full check (SMTP, SMTPS, STARTTLS, IMAP, IMAPS, IDLE)
    python3 smoke.py DIR send ADDR  send one message, print its subject
    python3 smoke.py DIR wait ADDR SUBJECT [SECONDS]   wait until it is in ADDR's INBOX

Not used by the Rust tests; handy to check the stack by hand.
"""
import imaplib
import os
import smtplib
import socket
import ssl
import sys
import time
import uuid
from email.message import EmailMessage


def load_env(d):
    with open(os.path.join(d, "env")) as f:
        return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)


ENV = load_env(sys.argv[1])
HOST = "127.0.0.1"
P = {k: int(v) for k, v in ENV.items() if k.endswith("_PORT")}
PASSWORD = ENV["PASSWORD"]
CTX = ssl.create_default_context(cafile=ENV["CA_FILE"])


def send(to, via="smtp", subject=None):
    subject = subject or "smoke " + uuid.uuid4().hex[:12]
    msg = EmailMessage()
    msg["From"] = "sender@example.org"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = "<%s@example.org>" % uuid.uuid4().hex
    msg.set_content("hello from smoke.py\n")
    if via == "smtp":
        with smtplib.SMTP(HOST, P["SMTP_PORT"], timeout=10) as s:
            s.send_message(msg)
    elif via == "starttls":
        with smtplib.SMTP(HOST, P["SMTP_PORT"], timeout=10) as s:
            s.starttls(context=CTX)
            s.login("anyone@jac.example", PASSWORD)
            s.send_message(msg)
    elif via == "smtps":
        with smtplib.SMTP_SSL("localhost", P["SMTPS_PORT"], context=CTX, timeout=10) as s:
            s.login("support@jac.example", PASSWORD)
            s.send_message(msg)
    return subject


def imap_login(user, kind="plain"):
    if kind == "plain":
        m = imaplib.IMAP4(HOST, P["IMAP_PORT"])
    elif kind == "starttls":
        m = imaplib.IMAP4(HOST, P["IMAP_PORT"])
        m.starttls(ssl_context=CTX)
    elif kind == "imaps":
        m = imaplib.IMAP4_SSL("localhost", P["IMAPS_PORT"], ssl_context=CTX)
    elif kind == "imaps-ip":
        m = imaplib.IMAP4_SSL("127.0.0.1", P["IMAPS_PORT"], ssl_context=CTX)
    m.login(user, PASSWORD)
    return m


def find(user, subject, kind="plain"):
    m = imap_login(user, kind)
    try:
        m.select("INBOX", readonly=True)
        typ, data = m.search(None, "SUBJECT", '"%s"' % subject)
        return data[0].split()
    finally:
        m.logout()


def wait(user, subject, secs=20.0, kind="plain"):
    t0 = time.monotonic()
    while time.monotonic() - t0 < secs:
        if find(user, subject, kind):
            return time.monotonic() - t0
        time.sleep(0.02)
    raise SystemExit("message %r not delivered to %s within %ss" % (subject, user, secs))


class RawImap:
    """Tiny raw IMAP client for IDLE (imaplib has no IDLE in 3.11)."""

    def __init__(self):
        self.s = socket.create_connection((HOST, P["IMAP_PORT"]), timeout=15)
        self.f = self.s.makefile("rb")
        self.line()
        self.n = 0

    def line(self):
        l = self.f.readline()
        if not l:
            raise EOFError("server closed")
        return l.decode().rstrip("\r\n")

    def cmd(self, text):
        self.n += 1
        tag = "t%d" % self.n
        self.s.sendall(("%s %s\r\n" % (tag, text)).encode())
        out = []
        while True:
            l = self.line()
            out.append(l)
            if l.startswith(tag + " "):
                if not l.startswith(tag + " OK"):
                    raise RuntimeError(l)
                return out


def idle_check(user):
    c = RawImap()
    c.cmd('LOGIN "%s" "%s"' % (user, PASSWORD))
    c.cmd("SELECT INBOX")
    c.s.sendall(b"i1 IDLE\r\n")
    assert c.line().startswith("+"), "no IDLE continuation"
    subject = send(user)
    t0 = time.monotonic()
    while True:
        l = c.line()
        if l.endswith("EXISTS"):
            dt = time.monotonic() - t0
            break
    c.s.sendall(b"DONE\r\n")
    while not c.line().startswith("i1 "):
        pass
    c.cmd("LOGOUT")
    return dt, l


def full():
    user = "client-%s@client.example" % uuid.uuid4().hex[:8]
    # 1. SMTP -> LMTP -> maildir, then IMAP (plain login)
    t0 = time.monotonic()
    subject = send(user)
    t_acc = time.monotonic() - t0
    lat = wait(user, subject)
    print("SMTP accepted in %.3fs, visible over IMAP %.3fs after acceptance" % (t_acc, lat))
    # also to the fixed address from the brief
    subject2 = send("client@client.example")
    print("client@client.example latency %.3fs" % wait("client@client.example", subject2))
    # 2. IMAPS with certificate verification (by name and by IP SAN), STARTTLS
    for kind in ("imaps", "imaps-ip", "starttls"):
        assert find(user, subject, kind), kind
        print("IMAP %s: found message, certificate verified" % kind)
    m = imap_login(user)
    typ, boxes = m.list()
    print("LIST:", [b.decode() for b in boxes])
    print("CAPABILITY:", m.capabilities)
    m.logout()
    # 3. SMTP STARTTLS + AUTH, SMTPS + AUTH (cert verified)
    for via in ("starttls", "smtps"):
        s = send(user, via)
        print("SMTP %s+AUTH latency %.3fs" % (via, wait(user, s)))
    # 4. IDLE
    lats = []
    for _ in range(3):
        dt, l = idle_check(user)
        lats.append(dt)
    print("IDLE notified (%s) %s s after SMTP acceptance" % (l, ", ".join("%.3f" % x for x in lats)))
    # 5. latency statistics
    xs = []
    for _ in range(10):
        s = send(user)
        xs.append(wait(user, s))
    xs.sort()
    print("delivery latency over 10 sends: min %.3f median %.3f max %.3f s" % (xs[0], xs[5], xs[-1]))
    print("OK")


if __name__ == "__main__":
    if len(sys.argv) == 2:
        full()
    elif sys.argv[2] == "send":
        print(send(sys.argv[3]))
    elif sys.argv[2] == "wait":
        secs = float(sys.argv[5]) if len(sys.argv) > 5 else 20.0
        print("%.3f" % wait(sys.argv[3], sys.argv[4], secs))
    else:
        raise SystemExit(__doc__)
