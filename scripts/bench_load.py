#!/usr/bin/env python3
"""Centralita load harness (issue #7): SIPp as the trunk against the real
release binary on loopback.

Each call answers, hears the demo menu (tests/scenarios/load_flow.yaml), streams caller speech (espeak-ng,
PCMU) for the hold time, presses 9 over RFC 4733 (the demo menu answers with
its prompt again), listens, hangs up. For each concurrency level it reports:
failed calls, gateway CPU % and RSS per active call, RTP send-interval jitter
p50/p99 and lost/late packets measured on the receiving side (tcpdump on lo),
and DTMF-to-next-prompt latency. Then it ramps the call rate (calls/s with 0
failures). The same load against SIPp's own `-sn uas -rtp_echo` is the floor
of this machine; the gateway/floor CPU ratio is printed.

Usage: scripts/bench-load.sh [--smoke] [--levels 50,100,...] [--hold 60]
The smoke run (CI) proves the harness works; figures come from a full run.
"""

import argparse
import json
import os
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "centralita"  # --bin overrides
SCENARIO = ROOT / "tests" / "scenarios" / "load_uac.xml"
RTP_LO, RTP_HI = 20000, 39999
HZ = os.sysconf("SC_CLK_TCK")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ  # utime + stime


def proc_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Gateway:
    """The gateway under test. `config`: the whole TOML (another harness's);
    default: the load flow with the speech path on every call."""

    def __init__(self, work, binary, realtime=True, config=None):
        cfg = work / "centralita.toml"
        cfg.write_text(config or (
            '[sip]\nlisten = ["udp:127.0.0.1:0"]\n'
            f'[rtp]\naddress = "127.0.0.1"\nports = "{RTP_LO}-{RTP_HI}"\ninactivity_timeout = 30\n'
            f'realtime = {"true" if realtime else "false"}\n'
            '[api]\nlisten = "127.0.0.1:0"\ntoken = "bench"\n'
            f'[store]\nurl = "sqlite://{work}/centralita.db"\n'
            # The speech path (tap, resampling, VAD) without a recogniser to size.
            '[speech]\nasr = "discard"\n'
            f'[flows]\ndefault = "{ROOT}/tests/scenarios/load_flow.yaml"\npinned_time = "2026-11-24T15:00:00Z"\n'
            f'[prompts]\ndir = "{ROOT}/prompts/assets"\ncache_dir = "{ROOT}/target/bench-prompt-cache"\n'
        ))
        self.log = open(work / "gateway.log", "w")
        env = dict(os.environ, RUST_LOG="warn")
        self.p = subprocess.Popen([str(binary), "run", "--config", str(cfg)], stdout=subprocess.PIPE, stderr=self.log, env=env, text=True)
        ready = json.loads(self.p.stdout.readline())
        self.sip = next(s[4:] for s in ready["sip"] if s.startswith("udp:"))
        self.api = ready["api"]
        self.pid = self.p.pid

    def active_calls(self):
        req = urllib.request.Request(f"http://{self.api}/v1/calls/live", headers={"Authorization": "Bearer bench"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return len(json.load(r)["calls"])

    def wait_idle(self, timeout=60):
        end = time.time() + timeout
        while time.time() < end and self.active_calls():
            time.sleep(0.5)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()


def make_speech(work):
    raw = work / "speech.ulaw"
    wav = work / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "I would like to talk to somebody about my order please"], check=True)
    subprocess.run(["sox", str(wav), "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw", str(raw)], check=True)
    return raw


def run_sipp(target, work, tag, calls, limit, rate, hold_ms, speech):
    sf = work / f"{tag}.xml"
    sf.write_text(SCENARIO.read_text().replace("@SPEECH@", str(speech)))
    stat = work / f"{tag}_stat.csv"
    cmd = ["sipp", target, "-sf", str(sf), "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", "40000",
           "-m", str(calls), "-l", str(limit), "-r", str(rate), "-d", str(hold_ms),
           "-nostdin", "-timeout", f"{int(hold_ms / 1000) + 120}s", "-timeout_error",
           "-trace_stat", "-stf", str(stat), "-fd", "1", "-max_socket", "65000", "-bg"]
    # With -bg SIPp's parent exits (status 99) once the child runs; the
    # child's PID is on its output.
    out = subprocess.run(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
    try:
        pid = int(out.split("PID=[", 1)[1].split("]", 1)[0])
    except (IndexError, ValueError):
        raise RuntimeError(f"sipp did not start: {out}")
    return stat, pid


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not running.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def sipp_totals(stat):
    rows = [line.split(";") for line in stat.read_text().splitlines() if line.strip()]
    head, last = rows[0], rows[-1]
    col = {name: i for i, name in enumerate(head)}
    return int(last[col["SuccessfulCall(C)"]]), int(last[col["FailedCall(C)"]])


def wait_sipp(pid, timeout):
    end = time.time() + timeout
    while alive(pid) and time.time() < end:
        time.sleep(0.2)


def capture(work, tag, seconds):
    pcap = work / f"{tag}.pcap"
    p = subprocess.Popen(["tcpdump", "-i", "lo", "-s", "64", "-B", "65536", "-w", str(pcap), "-U",
                          f"udp and portrange {RTP_LO}-{RTP_HI}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    p.send_signal(signal.SIGINT)
    p.wait(timeout=10)
    return pcap


def read_pcap(path):
    """Yields (t, src_port, dst_port, rtp_header_bytes) for UDP/IPv4 on lo."""
    for t, sport, dport, rtp, _ in read_pcap_full(path):
        yield t, sport, dport, rtp


def read_pcap_full(path):
    """Yields (t, src_port, dst_port, rtp_header_bytes, captured_payload)
    for UDP/IPv4 on lo; the payload is what the snap length kept."""
    data = path.read_bytes()
    if len(data) < 24:
        return
    magic = struct.unpack("<I", data[:4])[0]
    nano = magic == 0xA1B23C4D
    link = struct.unpack("<I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        ts, frac, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        pkt = data[off + 16: off + 16 + incl]
        off += 16 + incl
        l2 = 14 if link == 1 else 16 if link == 113 else 4
        ip = pkt[l2:]
        if len(ip) < 20 or ip[0] >> 4 != 4:
            continue
        ihl = (ip[0] & 15) * 4
        udp = ip[ihl:]
        if len(udp) < 20:
            continue
        sport, dport = struct.unpack(">HH", udp[:4])
        yield ts + frac / (1e9 if nano else 1e6), sport, dport, udp[8:20], udp[20:]


def analyse(pcap):
    """Per gateway stream: send-interval jitter, loss, late packets, and
    DTMF (RFC 4733 start packet towards the gateway) to the next marker
    packet from the gateway on the same port."""
    out_streams, dtmf_at = {}, {}
    for t, sport, dport, rtp in read_pcap(pcap):
        if len(rtp) < 12 or rtp[0] >> 6 != 2:
            continue
        pt, marker = rtp[1] & 0x7F, rtp[1] >> 7
        seq = struct.unpack(">H", rtp[2:4])[0]
        if RTP_LO <= sport <= RTP_HI:  # from the gateway
            out_streams.setdefault(sport, []).append((t, seq, marker))
        elif RTP_LO <= dport <= RTP_HI and pt == 101 and dport not in dtmf_at:
            dtmf_at[dport] = t
    deltas, lost, late, total, latencies, expected = [], 0, 0, 0, [], 0
    for port, pkts in out_streams.items():
        total += len(pkts)
        # What 20 ms pacing sends between this stream's first and last captured packet.
        expected += round((pkts[-1][0] - pkts[0][0]) / 0.020) + 1
        for (t0, s0, _), (t1, s1, _) in zip(pkts, pkts[1:]):
            gap = (s1 - s0) & 0xFFFF
            if gap == 1:
                d = (t1 - t0) * 1000.0
                deltas.append(abs(d - 20.0))
                late += d > 40.0
            elif 1 < gap < 1000:
                lost += gap - 1
        if port in dtmf_at:
            nxt = next((t for t, _, m in pkts if m and t > dtmf_at[port]), None)
            if nxt is not None:
                latencies.append((nxt - dtmf_at[port]) * 1000.0)

    def pct(xs, q):
        return round(statistics.quantiles(xs, n=100)[q - 1], 3) if len(xs) >= 100 else (round(max(xs), 3) if xs else None)

    return {
        "streams": len(out_streams), "packets": total, "expected_packets": expected, "lost": lost, "late_over_40ms": late,
        "jitter_p50_ms": pct(deltas, 50), "jitter_p99_ms": pct(deltas, 99),
        "dtmf_to_prompt_p50_ms": pct(latencies, 50), "dtmf_to_prompt_p99_ms": pct(latencies, 99),
        "dtmf_samples": len(latencies),
    }


def hold_level(target_pid, start_sipp, level, hold_s, work, tag, gw=None):
    """Runs `level` calls that overlap for `hold_s` seconds; measures in the middle."""
    ramp_rate = max(10, min(level, 100))
    ramp_s = level / ramp_rate
    hold_ms = int((ramp_s + hold_s) * 1000)
    stat, sipp_pid = start_sipp(tag, level, level, ramp_rate, hold_ms)
    started = time.time()
    time.sleep(ramp_s + 1.0)
    window = max(2.0, hold_s - 2.0)
    cpu0, t0 = proc_cpu_seconds(target_pid), time.time()
    active = gw.active_calls() if gw else None
    pcap = capture(work, tag, min(5.0, window)) if gw else None
    rest = window - min(5.0, window)
    if rest > 0:
        time.sleep(rest)
    cpu = (proc_cpu_seconds(target_pid) - cpu0) / (time.time() - t0) * 100.0
    rss = proc_rss_kib(target_pid)
    dtmf_pcap = None
    if gw:
        # The first call presses 9 at about started + hold_ms; the others
        # follow at the ramp rate. Capture around that moment.
        first_dtmf = started + hold_ms / 1000.0
        time.sleep(max(0.0, first_dtmf - 0.5 - time.time()))
        dtmf_pcap = capture(work, tag + "-dtmf", min(ramp_s + 3.0, 6.0))
    wait_sipp(sipp_pid, hold_ms / 1000 + 120)
    ok, failed = sipp_totals(stat)
    res = {"level": level, "ok": ok, "failed": failed, "cpu_pct": round(cpu, 1), "rss_kib": rss, "active_seen": active}
    if pcap:
        res.update(analyse(pcap))
        pcap.unlink()
    if dtmf_pcap:
        d = analyse(dtmf_pcap)
        res.update({k: d[k] for k in ("dtmf_to_prompt_p50_ms", "dtmf_to_prompt_p99_ms", "dtmf_samples")})
        dtmf_pcap.unlink()
    return res


def cps_run(gw, work, rate, seconds, speech):
    stat, pid = run_sipp(gw.sip, work, f"cps{rate}", rate * seconds, rate * 4, rate, 100, speech)
    wait_sipp(pid, seconds + 120)
    ok, failed = sipp_totals(stat)
    return {"rate": rate, "ok": ok, "failed": failed}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="tiny run for CI: proves the harness works")
    ap.add_argument("--levels", default="50,100,200,400,800,1200,1600,2000")
    ap.add_argument("--hold", type=float, default=60.0)
    ap.add_argument("--cps", default="25,50,100,200,400,600")
    ap.add_argument("--cps-seconds", type=int, default=10)
    ap.add_argument("--no-floor", action="store_true")
    ap.add_argument("--no-realtime", action="store_true", help="media threads at normal priority ([rtp].realtime = false)")
    ap.add_argument("--out", default=str(ROOT / "target" / "bench-load"))
    ap.add_argument("--bin", default=str(BIN), help="gateway binary (the smoke test uses the debug build)")
    a = ap.parse_args()
    if a.smoke:
        a.levels, a.hold, a.cps, a.cps_seconds, a.no_floor = "5", 4.0, "10", 2, False
    levels = [int(x) for x in a.levels.split(",")]
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=out))
    speech = make_speech(work)
    gw = Gateway(work, a.bin, realtime=not a.no_realtime)
    idle_rss = proc_rss_kib(gw.pid)
    log(f"gateway pid {gw.pid} sip {gw.sip} idle RSS {idle_rss} KiB")
    report = {"machine": {"nproc": os.cpu_count()}, "idle_rss_kib": idle_rss, "levels": [], "cps": [], "floor": []}
    try:
        for level in levels:
            r = hold_level(gw.pid, lambda tag, m, l, r_, d: run_sipp(gw.sip, work, tag, m, l, r_, d, speech), level, a.hold, work, f"hold{level}", gw)
            r["rss_per_call_kib"] = round((r["rss_kib"] - idle_rss) / level, 1)
            log(json.dumps(r))
            report["levels"].append(r)
            if r["failed"]:
                log(f"level {level}: {r['failed']} failed calls; stopping the ramp")
                break
            gw.wait_idle()
        for rate in [int(x) for x in a.cps.split(",")]:
            r = cps_run(gw, work, rate, a.cps_seconds, speech)
            log(json.dumps(r))
            report["cps"].append(r)
            if r["failed"]:
                break
    finally:
        gw.stop()
    if not a.no_floor:
        uas = subprocess.Popen(["sipp", "-sn", "uas", "-rtp_echo", "-i", "127.0.0.1", "-p", "15060", "-mp", "30000",
                                "-nostdin", "-bg", "-max_socket", "65000"], cwd=work, stdout=subprocess.DEVNULL)
        uas.wait()
        time.sleep(0.5)
        pid = int(subprocess.run(["pgrep", "-f", "sipp -sn uas -rtp_echo"], capture_output=True, text=True).stdout.split()[0])
        try:
            for level in levels[: len(report["levels"])]:
                r = hold_level(pid, lambda tag, m, l, r_, d: run_sipp("127.0.0.1:15060", work, tag, m, l, r_, d, speech), level, a.hold, work, f"floor{level}")
                log("floor " + json.dumps(r))
                report["floor"].append(r)
        finally:
            os.kill(pid, signal.SIGTERM)
    for g, f in zip(report["levels"], report["floor"]):
        g["floor_cpu_pct"] = f["cpu_pct"]
        g["gateway_over_floor"] = round(g["cpu_pct"] / f["cpu_pct"], 2) if f["cpu_pct"] else None
    held = [r["level"] for r in report["levels"] if r["failed"] == 0 and r["ok"] == r["level"]]
    report["max_concurrent_with_0_failures"] = max(held) if held else 0
    good = [r["rate"] for r in report["cps"] if r["failed"] == 0]
    report["max_cps_with_0_failures"] = max(good) if good else 0
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    failed = sum(r["failed"] for r in report["levels"]) + sum(r["failed"] for r in report["cps"])
    if a.smoke and (failed or not report["levels"] or report["levels"][0]["ok"] != levels[0]):
        log("smoke run failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
