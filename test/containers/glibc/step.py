"""The job's Python step: temporary files made the usual ways, a module compiled on first import,
and the interfaces asked of the kernel over netlink (as programs that look at the network do)."""
import os
import socket
import struct
import sys
import tempfile

sys.path.insert(0, "/app/lib")
import report  # noqa: E402  (the image has no __pycache__: Python writes report.cpython-*.pyc, through a temporary name)

out = sys.argv[1]

# the interfaces: an RTM_GETLINK dump on a NETLINK_ROUTE socket, read to NLMSG_DONE
RTM_GETLINK, NLM_F_REQUEST, NLM_F_DUMP, NLMSG_DONE = 18, 1, 0x300, 3
nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
nl.bind((0, 0))
nl.send(struct.pack("=IHHII", 16 + 16, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + struct.pack("=BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0))
links = 0
done = False
while not done:
    data = nl.recv(65536)
    at = 0
    while at < len(data):
        length, kind = struct.unpack_from("=IH", data, at)
        if kind == NLMSG_DONE:
            done = True
            break
        links += 1
        at += (length + 3) & ~3
nl.close()
names = [name for _, name in socket.if_nameindex()]   # glibc asks over netlink too

# a scratch file that never has a name (O_TMPFILE where the file system allows it)
with tempfile.TemporaryFile() as scratch:
    scratch.write(b"intermediate\n" * 100)
    scratch.seek(0)
    lines = len(scratch.readlines())

# a named scratch file, removed when closed
with tempfile.NamedTemporaryFile(dir=out, suffix=".part") as part:
    part.write(b"partial\n")
    part.flush()
    os.stat(part.name)

# a scratch directory, removed with what is in it
with tempfile.TemporaryDirectory() as work:
    with open(os.path.join(work, "chunk"), "w") as f:
        f.write("chunk\n")

# the result: written to a temporary beside it, then renamed onto its name (an atomic update)
text = report.render(links=links, names=names, lines=lines)
fd, tmp = tempfile.mkstemp(dir=out)
with os.fdopen(fd, "w") as f:
    f.write(text)
os.replace(tmp, os.path.join(out, "report.txt"))

# version 2 of the image also sends the report to a collector (REPORT_TO=HOST:PORT); the job goes
# on without it
collector = os.environ.get("REPORT_TO")
if collector:
    host, port = collector.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2) as c:
            c.sendall(text.encode())
    except OSError as e:
        print(f"report not sent to {collector}: {e}", file=sys.stderr)
