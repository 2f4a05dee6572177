"""What the benchmark scripts share (bench/sessions-scale, bench/loadgen/compare-ocserv): the
test bed's environment file, its /metrics scrape, and the dataplane's DPDK telemetry socket.
Import with sys.dont_write_bytecode set (no __pycache__ in the tree)."""
import json
import socket
import subprocess


def read_testbed_env(path):
    """The variables of a test bed's testbed.env (tools/testbed), as a dict."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line[len("export "):] if line.startswith("export ") else line
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v.strip("'\"")
    return env


def scrape(netns, url):
    """{metric name: sum of its samples} of one /metrics scrape from inside `netns`, or None
    when it does not answer."""
    r = subprocess.run(["ip", "netns", "exec", netns, "curl", "-fsS", "--max-time", "2", url],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None
    sums = {}
    for line in r.stdout.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        try:
            sums[name.split("{", 1)[0]] = sums.get(name.split("{", 1)[0], 0) + float(value)
        except ValueError:
            pass
    return sums


class Telemetry:
    """One connection to a DPDK process' telemetry socket (--file-prefix `file_prefix`)."""

    def __init__(self, file_prefix):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.connect("/var/run/dpdk/%s/dpdk_telemetry.v2" % file_prefix)
        self.sock.recv(16384)  # the greeting: version, pid, max_output_len

    def query(self, command):
        """The answer's value, e.g. query("/eal/heap_info,0") -> {"Alloc_size": ...}."""
        self.sock.send(command.encode())
        return json.loads(self.sock.recv(65536))[command.split(",", 1)[0]]

    def close(self):
        self.sock.close()
