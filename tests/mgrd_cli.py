#!/usr/bin/env python3
"""mgr tests — mgrd's command line, run as a person runs it (ctest mgrd_cli).

    tests/mgrd_cli.py MGRD SOURCE_DIR

Every option in both spellings (--opt VALUE, --opt=VALUE), each refusal with
its exit status (2 usage, 1 runtime) and the message that says what is wrong,
and servers that start: on a Unix path, on tcp:// with an authkey (from
--authkey-file, $MGR_AUTHKEY_FILE or $MGR_AUTHKEY) and on tls:// with the test
certificates (tests/tls-certs), every tunable set, listening on several
addresses at once. A started server says 'listening on ADDR' for each, writes
its --ready-fd byte (the test waits for it: no sleeps) and exits 0 on SIGTERM
and SIGINT. Exit 0 when every case passes, 1 otherwise.
"""
import os
import signal
import subprocess
import sys
import tempfile

MGRD, SRC = sys.argv[1], sys.argv[2]
fails = []
tmp = tempfile.mkdtemp(prefix="mgr-mgrd-cli.")
os.chmod(tmp, 0o700)
KEY = os.path.join(tmp, "key")
with open(os.open(KEY, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
    f.write(b"k" * 32)
OPENKEY = os.path.join(tmp, "openkey")
with open(OPENKEY, "wb") as f:
    f.write(b"k" * 32)
os.chmod(OPENKEY, 0o644)
BASE_ENV = {k: v for k, v in os.environ.items()
            if k not in ("MGR_AUTHKEY", "MGR_AUTHKEY_FILE")}


def refused(args, status, text, env=None, what=None):
    e = dict(BASE_ENV)
    e.update(env or {})
    p = subprocess.run([MGRD] + args, capture_output=True, text=True, env=e, timeout=60)
    out = p.stdout + p.stderr
    label = what or " ".join(args)
    if p.returncode != status or text not in out:
        fails.append("%s: exit %d, want %d with %r; said: %s"
                     % (label, p.returncode, status, text, out.strip()[:300]))


def serves(args, env=None, sig=signal.SIGTERM, what=None, n_listen=1):
    """mgrd ARGS --ready-fd N: the byte comes, then the signal ends it with 0."""
    e = dict(BASE_ENV)
    e.update(env or {})
    r, w = os.pipe()
    p = subprocess.Popen([MGRD] + args + ["--ready-fd", str(w)], pass_fds=(w,),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
    os.close(w)
    got = os.read(r, 1)  # the server is listening (or died: b"")
    os.close(r)
    label = what or " ".join(args)
    if got != b"\x01":
        p.kill()
    else:
        p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    lines = [l for l in out.splitlines() if l.startswith("listening on ")]
    if got != b"\x01" or p.returncode != 0 or len(lines) != n_listen:
        fails.append("%s: ready %r, exit %s, %d 'listening on' lines (want %d): %s"
                     % (label, got, p.returncode, len(lines), n_listen, (out + err).strip()[:300]))
    return lines


sock = lambda name: os.path.join(tmp, name)

# --- what it prints and exits 0 with
p = subprocess.run([MGRD, "--help"], capture_output=True, text=True)
if p.returncode != 0 or "usage: mgrd" not in p.stdout:
    fails.append("--help: exit %d" % p.returncode)
p = subprocess.run([MGRD, "-h"], capture_output=True, text=True)
if p.returncode != 0 or "--ready-fd" not in p.stdout:
    fails.append("-h: exit %d" % p.returncode)
p = subprocess.run([MGRD, "--version"], capture_output=True, text=True)
if p.returncode != 0 or not p.stdout.startswith("mgrd ") or "protocol" not in p.stdout:
    fails.append("--version: %r" % p.stdout)

# --- usage errors: 2
refused([], 2, "--listen ADDR (or --address PATH) is required")
refused(["--bogus"], 2, "unknown argument '--bogus'")
refused(["--listen"], 2, "--listen needs a value")
refused(["--listen", "tcp://"], 2, "mgrd: --listen:")
refused(["--address=ftp://x"], 2, "mgrd: --address:")
refused(sum([["--listen", sock("s%d" % i)] for i in range(17)], []), 2, "at most 16 addresses")
for opt, bad, shown in (("--max-frame", "10", "64..67108864"),
                        ("--max-frame", "abc", "64..67108864"),
                        ("--max-frame", "", "64..67108864"),
                        ("--max-frame", "-64", "64..67108864"),
                        ("--max-frame", "+64", "64..67108864"),
                        ("--max-frame", "99999999999999999999999", "64..67108864"),
                        ("--max-frame", "67108865", "64..67108864"),
                        ("--max-memory", "1X", "at least 1M"),
                        ("--max-memory", "1Kb", "at least 1M"),
                        ("--max-memory", "99999999999999G", "at least 1M"),
                        ("--max-memory", "1K", "at least 1M"),
                        ("--keepalive-idle", "999", "1000..86400000 ms"),
                        ("--keepalive-interval", "0", "1000..3600000 ms"),
                        ("--keepalive-count", "128", "1..127"),
                        ("--handshake-timeout", "0", "1..3600000 ms"),
                        ("--max-handshakes", "65537", "1..65536"),
                        ("--idle-timeout", "86400001", "0..86400000 ms"),
                        ("--slow-ms", "0", "'none'"),
                        ("--ready-fd", "65536", "a descriptor")):
    refused(["--listen", sock("u"), "%s=%s" % (opt, bad)], 2,
            "%s must be" % opt, what="%s=%r" % (opt, bad))
refused(["--listen", sock("u"), "--tls-cert", "x.pem"], 2, "need a tls:// address")
refused(["--listen", sock("u"), "--tls-ca=x.pem"], 2, "need a tls:// address")
refused(["--listen", sock("u"), "--tls-key", "x.key"], 2, "need a tls:// address")

# --- runtime errors: 1
refused(["--listen", "tcp://127.0.0.1:0"], 1, "needs an authkey")
refused(["--listen", "tcp://127.0.0.1:0"], 1, "MGR_AUTHKEY holds 5 bytes",
        env={"MGR_AUTHKEY": "short"})
refused(["--listen", "tcp://127.0.0.1:0"], 1, "MGR_AUTHKEY holds 1025 bytes",
        env={"MGR_AUTHKEY": "k" * 1025})
refused(["--listen", "tcp://127.0.0.1:0"], 1, "needs an authkey",
        env={"MGR_AUTHKEY": "", "MGR_AUTHKEY_FILE": ""}, what="empty $MGR_AUTHKEY(_FILE)")
refused(["--listen", "tcp://127.0.0.1:0", "--listen", os.path.join(tmp, "no-such-dir", "s"),
         "--authkey-file", KEY], 1, "mgrd: tcp://127.0.0.1:0 ...: ",
        what="one of several addresses cannot listen")
refused(["--listen", "tcp://127.0.0.1:0", "--authkey-file", os.path.join(tmp, "none")], 1,
        "mgrd: --authkey-file:")
refused(["--listen", "tcp://127.0.0.1:0"], 1, "mgrd: MGR_AUTHKEY_FILE:",
        env={"MGR_AUTHKEY_FILE": OPENKEY})
refused(["--listen", "tls://127.0.0.1:0", "--authkey-file", KEY,
         "--tls-cert", os.path.join(tmp, "none.pem"), "--tls-key", os.path.join(tmp, "none.key")],
        1, "mgrd: ")
refused(["--listen", os.path.join(tmp, "no-such-dir", "s")], 1, "mgrd: ")

# --- a socket path already there: a stale socket (its server gone) is
# replaced, a live one or another file is not
import socket as _s
stale = sock("stale")
x = _s.socket(_s.AF_UNIX, _s.SOCK_STREAM)
x.bind(stale)
x.close()  # the file stays, nobody listens
serves(["--listen", stale], what="a stale socket file")
live = sock("live")
y = _s.socket(_s.AF_UNIX, _s.SOCK_STREAM)
y.bind(live)
y.listen(1)
refused(["--listen", live], 1, "Address already in use", what="a live socket")
y.close()
plain = sock("plain")
open(plain, "w").close()
refused(["--listen", plain], 1, "mgrd: ", what="a regular file at the path")
opendir = os.path.join(tmp, "open")
os.mkdir(opendir, 0o755)
os.chmod(opendir, 0o755)
refused(["--listen", os.path.join(opendir, "s")], 1, "mode 0700",
        what="a socket directory others can read")
serves(["--listen", os.path.join(opendir, "s"), "--allow-any-uid"],
       what="--allow-any-uid in an open directory")

# --- servers that start
serves(["--address", sock("a")], what="a Unix path")
serves(["--listen=unix:" + sock("b")], sig=signal.SIGINT, what="unix:, SIGINT")
serves(["--listen", "tcp://127.0.0.1:0", "--authkey-file", KEY], what="tcp, --authkey-file")
serves(["--listen", "tcp://127.0.0.1:0"], env={"MGR_AUTHKEY_FILE": KEY}, what="tcp, $MGR_AUTHKEY_FILE")
serves(["--listen", "tcp://127.0.0.1:0"], env={"MGR_AUTHKEY": "k" * 40}, what="tcp, $MGR_AUTHKEY")
serves(["--listen", "tcp://127.0.0.1:0"], env={"MGR_AUTHKEY_FILE": "", "MGR_AUTHKEY": "k" * 1024},
       what="tcp, an empty $MGR_AUTHKEY_FILE: $MGR_AUTHKEY of 1024 bytes")
serves(["--listen", sock("c"), "--max-frame", "65536", "--max-memory", "64M",
        "--keepalive-idle", "2000", "--keepalive-interval=1000", "--keepalive-count", "2",
        "--handshake-timeout", "5000", "--max-handshakes", "8", "--idle-timeout", "0",
        "--slow-ms", "none", "--allow-any-uid", "--no-shm"], what="every tunable")
serves(["--listen", sock("d"), "--max-memory", "none", "--slow-ms", "1",
        "--max-memory=2g", "--max-memory", "4096k", "--max-memory", "16m",
        "--max-memory", "1G", "--max-memory", "1048576"],
       what="memory spellings")
certs = os.path.join(tmp, "certs")
if subprocess.run([os.path.join(SRC, "tests", "tls-certs"), certs],
                  capture_output=True).returncode == 0:
    c = lambda f: os.path.join(certs, f)
    serves(["--listen", "tls://127.0.0.1:0", "--authkey-file", KEY, "--tls-cert", c("server.pem"),
            "--tls-key", c("server.key"), "--tls-ca", c("ca.pem"),
            "--listen", sock("e"), "--listen", "tcp://[::1]:0"],
           what="tls + unix + tcp6", n_listen=3)
    refused(["--listen", "tls://127.0.0.1:0", "--authkey-file", KEY, "--tls-cert", c("server.pem"),
             "--tls-key", c("wrongname.key")], 1, "mgrd: ", what="tls, a key of another certificate")
else:
    print("mgrd_cli: no openssl command: the tls:// cases are left out")

for f in fails:
    print("mgrd_cli: FAILED: " + f)
subprocess.run(["rm", "-rf", tmp])
print("mgrd_cli: %d failed" % len(fails) if fails else "mgrd_cli: passed")
sys.exit(1 if fails else 0)
