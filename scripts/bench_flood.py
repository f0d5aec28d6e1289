#!/usr/bin/env python3
"""Flood harness (issue #15 items 5 and 4): an INVITE flood from one
loopback address (SIPp bound to 127.0.0.2) against the release gateway
while healthy calls from another (127.0.0.1) run and a monitor sends
OPTIONS once a second.

Reports, per run: the flood's INVITEs as the gateway counted them and what
each got (admitted, 503 by reason, dropped), the healthy calls that
completed and heard audio (RTP packets received on their own ports), the
monitor's OPTIONS answered, gateway CPU seconds, and RSS before, right
after the flood and after --idle seconds of quiet (item 4's question).

Usage: scripts/bench_flood.py [--rate 150] [--seconds 60] [--healthy 20]
                              [--flood-hold MS] [--no-limits] [--bin PATH] [--out DIR]
With --no-limits the gateway runs without [limits] (the issue's "before").
Prints one JSON report on stdout.

       scripts/bench_flood.py --memory [--options 20000] [--header-kb 30]
                              [--invites 10000] [--idle 60] [--limits]
Item 4's measurement: RSS before, right after and --idle seconds after
each of two identical OPTIONS floods (each with a --header-kb header) and
an INVITE flood, sent from 127.0.0.3 as fast as the gateway takes them
(at most 2,000 a second); without [limits] unless --limits.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HZ = os.sysconf("SC_CLK_TCK")
FLOOD_IP = "127.0.0.2"
LIMITS = (
    "[limits]\nmax_calls = 400\nmax_cps = 50\nmax_cps_per_source = 20\nsource_rate = 100\n"
    'ban_seconds = 60\nban_action = "drop"\nretry_after = 5\n'
)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def free_port(ip="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Gateway:
    def __init__(self, work, binary, limits, env_extra=()):
        cfg = work / "centralita.toml"
        # RTP below the ephemeral port range, where SIPp's ports are picked.
        cfg.write_text(
            '[sip]\nlisten = ["udp:127.0.0.1:0"]\n'
            '[rtp]\naddress = "127.0.0.1"\nports = "20000-29999"\ninactivity_timeout = 30\n'
            '[api]\nlisten = "127.0.0.1:0"\ntoken = "bench"\n'
            f'[store]\nurl = "sqlite://{work}/centralita.db"\n'
            '[speech]\nasr = "none"\n'
            f'[flows]\ndefault = "{ROOT}/flows/demo.yaml"\npinned_time = "2026-11-24T15:00:00Z"\n'
            f'[prompts]\ndir = "{ROOT}/prompts/assets"\ncache_dir = "{ROOT}/target/bench-prompt-cache"\n'
            + (LIMITS if limits else "")
        )
        self.log = open(work / "gateway.log", "w")
        env = dict(os.environ, RUST_LOG="warn")
        env.update(kv.split("=", 1) for kv in env_extra)
        self.p = subprocess.Popen([str(binary), "run", "--config", str(cfg)], stdout=subprocess.PIPE, stderr=self.log, env=env, text=True)
        line = self.p.stdout.readline()
        while line and not line.startswith("{"):  # a wrapper's own lines (heaptrack)
            line = self.p.stdout.readline()
        ready = json.loads(line)
        host, port = next(s[4:] for s in ready["sip"] if s.startswith("udp:")).rsplit(":", 1)
        self.sip = (host, int(port))
        self.api = ready["api"]
        self.pid = self.p.pid

    def metrics(self):
        with urllib.request.urlopen(f"http://{self.api}/metrics", timeout=10) as r:
            return r.read().decode()

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.p.kill()


def series(text, prefix):
    """{labels: value} of every sample whose name starts with prefix."""
    out = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            name, value = line.rsplit(" ", 1)
            out[name[len(prefix):]] = float(value)
    return out


def options(ip, tag):
    return (
        f"OPTIONS sip:5550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {ip}:9;rport;branch=z9hG4bK{tag}\r\n"
        f"From: <sip:monitor@{ip}>;tag={tag}\r\nTo: <sip:5550100@127.0.0.1>\r\nCall-ID: {tag}\r\n"
        "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def monitor(gw, stop, result):
    """OPTIONS from 127.0.0.1 once a second: answered within 2 s?"""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    n = 0
    while not stop.is_set():
        n += 1
        t0 = time.time()
        s.sendto(options("127.0.0.1", f"mon{n}x{os.getpid()}"), gw.sip)
        try:
            data = s.recv(65536)
            if data.startswith(b"SIP/2.0 200"):
                result["answered"] += 1
                result["max_ms"] = max(result["max_ms"], round((time.time() - t0) * 1000, 1))
        except socket.timeout:
            pass
        result["sent"] += 1
        stop.wait(max(0.0, 1 - (time.time() - t0)))


def rtp_counter(sock, stop, counts, i):
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            data = sock.recv(2048)
            if len(data) >= 12 and data[0] >> 6 == 2:
                counts[i] += 1
        except socket.timeout:
            pass


def run(args, limits):
    work = Path(tempfile.mkdtemp(prefix="flood-", dir=args.out))
    gw = Gateway(work, args.bin, limits)
    time.sleep(1)
    base_rss, cpu0 = rss_mib(gw.pid), cpu_seconds(gw.pid)
    stop = threading.Event()
    mon = {"sent": 0, "answered": 0, "max_ms": 0.0}
    threading.Thread(target=monitor, args=(gw, stop, mon), daemon=True).start()

    flood_sf = work / "flood.xml"
    flood_sf.write_text((ROOT / "tests/scenarios/flood_uac.xml").read_text().replace("@RTP_PORT@", str(free_port()))
                       .replace("@HOLD_MS@", str(args.flood_hold)))
    total = args.rate * args.seconds
    target = f"{gw.sip[0]}:{gw.sip[1]}"
    flood = subprocess.Popen(
        ["sipp", target, "-sf", str(flood_sf), "-i", FLOOD_IP, "-p", str(free_port(FLOOD_IP)), "-mi", FLOOD_IP,
         "-mp", str(free_port(FLOOD_IP)), "-nostdin", "-nd", "-r", str(args.rate), "-l", str(args.rate * 20),
         "-m", str(total), "-recv_timeout", "2000", "-timeout", f"{args.seconds + 60}s", "-max_socket", "65000"],
        cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(min(5, args.seconds / 4))

    # Healthy calls: each with its own RTP port, counted here.
    socks = []
    for _ in range(args.healthy):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    counts = [0] * args.healthy
    rtp_stop = threading.Event()
    for i, s in enumerate(socks):
        threading.Thread(target=rtp_counter, args=(s, rtp_stop, counts, i), daemon=True).start()
    csv = work / "ports.csv"
    csv.write_text("SEQUENTIAL\n" + "".join(f"{s.getsockname()[1]};\n" for s in socks))
    healthy_sf = work / "healthy.xml"
    healthy_sf.write_text((ROOT / "tests/scenarios/caller_bye.xml").read_text()
                          .replace("@RTP_PORT@", "[field0]").replace("@HOLD_MS@", "5000"))
    stat = work / "healthy_stat.csv"
    healthy = subprocess.run(
        ["sipp", target, "-sf", str(healthy_sf), "-i", "127.0.0.1", "-p", str(free_port()), "-mi", "127.0.0.1",
         "-mp", str(free_port()), "-inf", str(csv), "-m", str(args.healthy), "-l", str(args.healthy), "-r", "2",
         "-nostdin", "-timeout", "120s", "-timeout_error", "-trace_stat", "-stf", str(stat), "-fd", "1"],
        cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    rtp_stop.set()
    rows = [line.split(";") for line in stat.read_text().splitlines() if line.strip()] if stat.exists() else []
    ok = failed = None
    if len(rows) > 1:
        col = {n: i for i, n in enumerate(rows[0])}
        ok, failed = int(rows[-1][col["SuccessfulCall(C)"]]), int(rows[-1][col["FailedCall(C)"]])
    flood_running_at_healthy_end = flood.poll() is None
    flood.wait()
    peak_rss = rss_mib(gw.pid)
    cpu = cpu_seconds(gw.pid) - cpu0
    stop.set()
    m = gw.metrics()
    log(f"idle {args.idle} s for RSS ...")
    time.sleep(args.idle)
    idle_rss = rss_mib(gw.pid)
    report = {
        "limits": LIMITS if limits else None,
        "flood": {"rate_cps": args.rate, "seconds": args.seconds, "hold_ms": args.flood_hold, "calls_started_by_sipp": total,
                  "running_when_healthy_calls_ended": flood_running_at_healthy_end},
        "invites_received": series(m, "centralita_sip_requests_received_total").get('{method="INVITE"}', 0),
        "overload_rejections": series(m, "centralita_overload_rejections_total"),
        "responses_sent": series(m, "centralita_sip_responses_sent_total"),
        "calls_ended": series(m, "centralita_calls_total"),
        "healthy": {"calls": args.healthy, "sipp_successful": ok, "sipp_failed": failed, "sipp_exit": healthy.returncode,
                    "with_audio": sum(1 for c in counts if c >= 100), "min_rtp_packets": min(counts) if counts else 0},
        "options_monitor": mon,
        "gateway_cpu_seconds": round(cpu, 1),
        "rss_mib": {"before": round(base_rss, 1), "after_flood": round(peak_rss, 1), f"after_{args.idle}s_idle": round(idle_rss, 1)},
    }
    gw.stop()
    return report


def blast(gw, msgs, per_second=2000):
    """Sends every datagram from 127.0.0.3, reading answers as they come."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.3", 0))
    s.setblocking(False)
    answered, t0 = 0, time.time()
    for i, m in enumerate(msgs):
        s.sendto(m, gw.sip)
        while True:
            try:
                s.recv(65536)
                answered += 1
            except BlockingIOError:
                break
        ahead = i / per_second - (time.time() - t0)
        if ahead > 0:
            time.sleep(ahead)
    end = time.time() + 3
    s.settimeout(0.2)
    while time.time() < end:
        try:
            s.recv(65536)
            answered += 1
        except socket.timeout:
            pass
    return answered


def memory(args):
    work = Path(tempfile.mkdtemp(prefix="memory-", dir=args.out))
    gw = Gateway(work, args.bin, args.limits, args.env)
    time.sleep(2)
    rounds = [("start", round(rss_mib(gw.pid), 1))]
    pad = "x" * (args.header_kb * 1024)
    for r in (1, 2):
        msgs = [(
            f"OPTIONS sip:5550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.3:9;rport;branch=z9hG4bKm{r}x{i}\r\n"
            f"From: <sip:m@127.0.0.3>;tag={i}\r\nTo: <sip:5550100@127.0.0.1>\r\nCall-ID: m{r}x{i}\r\n"
            f"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nX-Pad: {pad}\r\nContent-Length: 0\r\n\r\n").encode()
            for i in range(args.options)]
        answered = blast(gw, msgs)
        rounds.append((f"options round {r} ({args.options} x {args.header_kb} KB, {answered} answered): after", round(rss_mib(gw.pid), 1)))
        log(rounds[-1])
        time.sleep(args.idle)
        rounds.append((f"options round {r}: after {args.idle} s idle", round(rss_mib(gw.pid), 1)))
        log(rounds[-1])
    sdp = "v=0\r\no=t 1 1 IN IP4 127.0.0.3\r\ns=-\r\nc=IN IP4 127.0.0.3\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"
    msgs = [(
        f"INVITE sip:5550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.3:9;rport;branch=z9hG4bKi{i}\r\n"
        f"From: <sip:m@127.0.0.3>;tag={i}\r\nTo: <sip:5550100@127.0.0.1>\r\nCall-ID: inv{i}\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:m@127.0.0.3:9>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}").encode()
        for i in range(args.invites)]
    answered = blast(gw, msgs, per_second=500)
    rounds.append((f"INVITE flood ({args.invites}, never ACKed, {answered} answers): after", round(rss_mib(gw.pid), 1)))
    log(rounds[-1])
    time.sleep(args.idle)
    rounds.append((f"INVITE flood: after {args.idle} s idle", round(rss_mib(gw.pid), 1)))
    gw.stop()
    return {"limits": args.limits, "env": args.env, "rss_mib": rounds}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=150)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--healthy", type=int, default=20)
    ap.add_argument("--idle", type=int, default=60)
    ap.add_argument("--no-limits", action="store_true")
    ap.add_argument("--flood-hold", type=int, default=0, help="ms an admitted flood call stays before its BYE")
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for the gateway (e.g. GLIBC_TUNABLES=...)")
    ap.add_argument("--limits", action="store_true", help="--memory: with [limits]")
    ap.add_argument("--options", type=int, default=20000)
    ap.add_argument("--header-kb", type=int, default=30)
    ap.add_argument("--invites", type=int, default=10000)
    ap.add_argument("--bin", default=str(ROOT / "target/release/centralita"))
    ap.add_argument("--out", default=str(ROOT / "target/bench-flood"))
    args = ap.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.memory:
        print(json.dumps(memory(args), indent=2))
    else:
        print(json.dumps(run(args, not args.no_limits), indent=2))


if __name__ == "__main__":
    main()
