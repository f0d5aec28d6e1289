#!/usr/bin/env python3
"""Bridged-call load (issue #12): N concurrent warm-transferred calls, each
two RTP legs relayed by the gateway's media shards, SIPp on both sides.

Half the calls reach a PCMU agent (relay, payload untouched), half a PCMA
agent (every packet transcoded). Callers and agents stream speech in both
directions for the hold time. Per level it reports: failed calls (both
SIPp sides), gateway CPU % (and per bridged call, against rustpbx's
published ~0.14 % of a core per relayed call, 0.42 % transcoding), RSS,
the send-interval jitter of every stream the gateway sends (tcpdump on lo),
and the relay latency the gateway adds: for the PCMU<->PCMU calls each
packet into the gateway is matched by payload with the packet it sends on
the other leg (pairs of streams found by their shared payloads).

With --peers (the default), SIPp only signals: the media of both sides
comes from `rtp_peers` (media/examples/rtp_peers.rs), paced like
independent phones (each stream at 20 ms with its own phase) instead of
SIPp's rtp_stream bursts, and the peers measure the relay latency from a
send timestamp in the PCMU payload, the arrival jitter of every stream the
gateway sends, and their own send lateness (the generator's floor); no
tcpdump. --sipp-rtp keeps the older SIPp streams + tcpdump measurement.

Usage: scripts/bench-bridge.sh [--smoke] [--levels 100,250,500,1000] [--hold 30] [--sipp-rtp]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_load as bl  # noqa: E402  (the shared pieces: CPU, SIPp, capture, pcap)

ROOT = bl.ROOT
FLOW = """flow: bridge_{name}
start: to_agent
nodes:
  to_agent:
    transfer: {{ to: "sip:agent@127.0.0.1:{port}", mode: warm, whisper: "{whisper}", accept: auto, timeout: 20s }}
    on: {{ failed: bye }}
  bye:
    hangup: true
"""


class Gateway(bl.Gateway):
    """The release gateway routing 1000 to the PCMU agent, 2000 to the PCMA one."""

    def __init__(self, work, binary, ports, whisper=""):
        for name, port in ports.items():
            (work / f"bridge_{name}.yaml").write_text(FLOW.format(name=name, port=port, whisper=whisper))
        super().__init__(work, binary, config=(
            '[sip]\nlisten = ["udp:127.0.0.1:0"]\n'
            f'[rtp]\naddress = "127.0.0.1"\nports = "{bl.RTP_LO}-{bl.RTP_HI}"\ninactivity_timeout = 30\n'
            '[api]\nlisten = "127.0.0.1:0"\ntoken = "bench"\n'
            f'[store]\nurl = "sqlite://{work}/centralita.db"\n[speech]\nasr = "none"\n'
            f'[flows]\ndefault = "{work}/bridge_pcmu.yaml"\n'
            f'[flows.routes]\n"1000" = "{work}/bridge_pcmu.yaml"\n"2000" = "{work}/bridge_pcma.yaml"\n'
            f'[prompts]\ndir = "{ROOT}/prompts/assets"\ncache_dir = "{ROOT}/target/bench-prompt-cache"\n'
        ))


def audio(work):
    wav = work / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "I would like to talk to somebody about my order please, thank you"], check=True)
    out = {}
    for name, enc in (("ulaw", "u-law"), ("alaw", "a-law")):
        out[name] = work / f"speech.{name}"
        subprocess.run(["sox", str(wav), "-r", "8000", "-c", "1", "-e", enc, "-t", "raw", str(out[name])], check=True)
    return out


PIN = []  # --pin: ["taskset", "-c", "1"] for SIPp and the peers


def sipp(args, work, tag):
    stat = work / f"{tag}_stat.csv"
    cmd = [*PIN, "sipp", *args, "-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin", "-trace_stat", "-stf", str(stat), "-fd", "1",
           "-max_socket", "65000", "-bg"]
    out = subprocess.run(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
    try:
        pid = int(out.split("PID=[", 1)[1].split("]", 1)[0])
    except (IndexError, ValueError):
        raise RuntimeError(f"sipp did not start: {' '.join(cmd)}: {out}")
    return stat, pid


def scenario(work, name, **subs):
    text = (ROOT / "tests" / "scenarios" / name).read_text()
    for k, v in subs.items():
        text = text.replace(f"@{k}@", str(v))
    path = work / f"{name[:-4]}-{'-'.join(str(v) for v in subs.values() if len(str(v)) < 8)}.xml"
    path.write_text(text)
    return path


def relay_latency(pcap):
    """Delays (ms) between a packet into the gateway and the same packet out
    of it on the other leg (PCMU<->PCMU calls: the payload is untouched).

    While bridged, every packet a leg sends is a relayed one, in order, so
    the n-th packet into the gateway on one leg is the (n+k)-th out of it on
    the other. Streams are paired, and k found, by where their payload
    sequences line up; each packet's delay is then taken from its own match,
    not from whichever identical payload (speech repeats) comes next."""
    into, out_of = {}, {}
    for t, sport, dport, rtp, payload in bl.read_pcap_full(pcap):
        if len(rtp) < 12 or rtp[1] & 0x7F != 0 or len(payload) < 80:
            continue
        key = bytes(payload[:80])
        if bl.RTP_LO <= dport <= bl.RTP_HI and not bl.RTP_LO <= sport <= bl.RTP_HI:
            into.setdefault(dport, []).append((t, key))
        elif bl.RTP_LO <= sport <= bl.RTP_HI:
            out_of.setdefault(sport, []).append((t, key))
    first_seen = {}
    for port, pkts in out_of.items():
        for i, (t, key) in enumerate(pkts):
            first_seen.setdefault(key, []).append((port, i))
    delays = []
    for port, pkts in into.items():
        # Candidate (partner, offset) pairs from distinctive payloads.
        votes = {}
        for n, (t, key) in enumerate(pkts):
            if key.count(key[0]) > 60:  # silence-like: no information
                continue
            for p2, i in first_seen.get(key, []):
                votes[(p2, i - n)] = votes.get((p2, i - n), 0) + 1
        if not votes:
            continue
        (partner, k), count = max(votes.items(), key=lambda kv: kv[1])
        outs = out_of[partner]
        matched = [(outs[n + k][0] - t) * 1000.0 for n, (t, key) in enumerate(pkts)
                   if 0 <= n + k < len(outs) and outs[n + k][1] == key]
        if count < 10 or len(matched) < len(pkts) // 2:
            continue  # not a same-codec pair (the PCMA calls are transcoded)
        delays.extend(d for d in matched if d >= 0)
    return delays


def level_run(gw, work, level, hold_s, files, agent_ports):
    ramp_rate = max(10, min(level, 100))
    ramp_s = level / ramp_rate
    hold_ms = int((ramp_s + hold_s) * 1000)
    half = level // 2
    agents, callers = [], []
    for (name, pt, codec), port in zip((("pcmu", 0, "PCMU"), ("pcma", 8, "PCMA")), agent_ports):
        sf = scenario(work, "bridge_agent.xml", CODEC_PT=pt, CODEC_NAME=codec, SPEECH=files["ulaw" if pt == 0 else "alaw"])
        agents.append(sipp(["-sf", str(sf), "-p", str(port), "-mp", str(41000 + pt * 1000), "-m", str(half)], work, f"agent-{name}-{level}"))
    for number, mp in (("1000", 44000), ("2000", 46000)):
        sf = scenario(work, "bridge_uac.xml", NUMBER=number, SPEECH=files["ulaw"])
        callers.append(sipp([gw.sip, "-sf", str(sf), "-mp", str(mp), "-m", str(half), "-l", str(half), "-r", str(ramp_rate / 2),
                             "-d", str(hold_ms), "-timeout", f"{int(hold_ms / 1000) + 120}s", "-timeout_error"], work, f"caller-{number}-{level}"))
    time.sleep(ramp_s + 3.0)
    window = max(2.0, hold_s - 4.0)
    cpu0, t0 = bl.proc_cpu_seconds(gw.pid), time.time()
    active = gw.active_calls()
    pcap = work / f"bridge{level}.pcap"
    cap = subprocess.Popen(["tcpdump", "-i", "lo", "-s", "200", "-B", "131072", "-w", str(pcap), "-U",
                            f"udp and portrange {bl.RTP_LO}-{bl.RTP_HI}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(min(4.0, window))
    cap.send_signal(2)
    cap.wait(timeout=10)
    rest = window - min(4.0, window)
    if rest > 0:
        time.sleep(rest)
    cpu = (bl.proc_cpu_seconds(gw.pid) - cpu0) / (time.time() - t0) * 100.0
    rss = bl.proc_rss_kib(gw.pid)
    for _, pid in callers + agents:
        bl.wait_sipp(pid, hold_ms / 1000 + 120)
    ok = failed = 0
    for stat, _ in callers:
        o, f = bl.sipp_totals(stat)
        ok, failed = ok + o, failed + f
    agent_failed = sum(bl.sipp_totals(stat)[1] for stat, _ in agents)
    res = {"level": level, "ok": ok, "failed": failed, "agent_failed": agent_failed, "active_seen": active,
           "cpu_pct": round(cpu, 1), "cpu_pct_per_bridged_call": round(cpu / max(level, 1), 3), "rss_kib": rss}
    res.update({k: v for k, v in bl.analyse(pcap).items() if not k.startswith("dtmf")})
    lat = relay_latency(pcap)
    pct = lambda q: round(sorted(lat)[min(len(lat) - 1, int(len(lat) * q))], 3) if lat else None  # noqa: E731
    res.update({"relay_samples": len(lat), "relay_p50_ms": pct(0.50), "relay_p99_ms": pct(0.99), "relay_max_ms": round(max(lat), 3) if lat else None})
    pcap.unlink()
    return res


PEERS = ROOT / "target" / "release" / "examples" / "rtp_peers"


def peers_scenario(work, name, tag, **subs):
    """A bridge scenario with its SDP port from SIPp's injection file and no
    rtp_stream: the media comes from rtp_peers."""
    path = scenario(work, name, **subs)
    text = path.read_text().replace("[media_port]", "[field0]")
    text = "\n".join(line for line in text.splitlines() if "rtp_stream" not in line) + "\n"
    out = work / f"{path.stem}-{tag}.xml"
    out.write_text(text)
    return out


def start_peers(work, tag, sockets, pt, seconds, warmup, realtime=False):
    ports, report = work / f"peers-{tag}.csv", work / f"peers-{tag}.json"
    for f in (ports, report):
        f.unlink(missing_ok=True)
    proc = subprocess.Popen([*PIN, str(PEERS), "--sockets", str(sockets), "--pt", str(pt), "--ports", str(ports),
                             "--seconds", str(seconds), "--warmup", str(warmup), "--json", str(report),
                             "--realtime", "1" if realtime else "0"])
    deadline = time.time() + 30
    while not (ports.exists() and ports.read_text().count("\n") > sockets):
        if time.time() > deadline or proc.poll() is not None:
            raise RuntimeError(f"rtp_peers {tag} did not start")
        time.sleep(0.05)
    return proc, ports, report


def peers_level_run(gw, work, level, hold_s, agent_ports, realtime=False):
    ramp_rate = max(10, min(level, 100))
    ramp_s = level / ramp_rate
    hold_ms = int((ramp_s + hold_s) * 1000)
    half = level // 2
    warmup, window = ramp_s + 3.0, max(2.0, hold_s - 4.0)
    seconds = warmup + window
    peers = {}
    for tag, pt in (("agent-pcmu", 0), ("agent-pcma", 8), ("caller-1000", 0), ("caller-2000", 0)):
        peers[tag] = start_peers(work, f"{tag}-{level}", half, pt, seconds, warmup, realtime)
    agents, callers = [], []
    for (name, pt, codec), port in zip((("pcmu", 0, "PCMU"), ("pcma", 8, "PCMA")), agent_ports):
        sf = peers_scenario(work, "bridge_agent.xml", f"peers-{name}", CODEC_PT=pt, CODEC_NAME=codec, SPEECH="none")
        agents.append(sipp(["-sf", str(sf), "-p", str(port), "-inf", str(peers[f"agent-{name}"][1]), "-m", str(half)], work, f"agent-{name}-{level}"))
    for number in ("1000", "2000"):
        sf = peers_scenario(work, "bridge_uac.xml", f"peers-{number}", NUMBER=number, SPEECH="none")
        callers.append(sipp([gw.sip, "-sf", str(sf), "-inf", str(peers[f"caller-{number}"][1]), "-m", str(half), "-l", str(half),
                             "-r", str(ramp_rate / 2), "-d", str(hold_ms), "-timeout", f"{int(hold_ms / 1000) + 120}s", "-timeout_error"],
                            work, f"caller-{number}-{level}"))
    time.sleep(warmup)
    cpu0, t0 = bl.proc_cpu_seconds(gw.pid), time.time()
    active = gw.active_calls()
    time.sleep(window)
    cpu = (bl.proc_cpu_seconds(gw.pid) - cpu0) / (time.time() - t0) * 100.0
    rss = bl.proc_rss_kib(gw.pid)
    reports = {}
    for tag, (proc, _, report) in peers.items():
        proc.wait(timeout=60)
        reports[tag] = json.loads(report.read_text())
    for _, pid in callers + agents:
        bl.wait_sipp(pid, hold_ms / 1000 + 120)
    ok = failed = 0
    for stat, _ in callers:
        o, f = bl.sipp_totals(stat)
        ok, failed = ok + o, failed + f
    agent_failed = sum(bl.sipp_totals(stat)[1] for stat, _ in agents)
    jitter = {t: r["arrival_jitter"] for t, r in reports.items()}
    return {"level": level, "peers_realtime": realtime, "ok": ok, "failed": failed, "agent_failed": agent_failed, "active_seen": active,
            "cpu_pct": round(cpu, 1), "cpu_pct_per_bridged_call": round(cpu / max(level, 1), 3), "rss_kib": rss,
            "relay_caller_to_agent": reports["agent-pcmu"]["relay_latency"],
            "relay_agent_to_caller": reports["caller-1000"]["relay_latency"],
            "arrival_jitter": jitter, "lost": sum(r["lost"] for r in reports.values()),
            "streams_started": {t: r["streams_started"] for t, r in reports.items()},
            "sender_lateness": {t: r["sender_lateness"] for t, r in reports.items()}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="a few bridged calls: proves the harness works")
    ap.add_argument("--levels", default="100,250,500,1000")
    ap.add_argument("--hold", type=float, default=30.0)
    ap.add_argument("--out", default=str(ROOT / "target" / "bench-bridge"))
    ap.add_argument("--bin", default=str(bl.BIN))
    ap.add_argument("--sipp-rtp", action="store_true", help="SIPp streams the media (bursty) and tcpdump measures")
    ap.add_argument("--peers-realtime", action="store_true", help="rtp_peers at SCHED_RR (steadier; may starve SIPp)")
    ap.add_argument("--pin", action="store_true", help="the gateway on CPU 0, SIPp and the peers on CPU 1 (taskset)")
    a = ap.parse_args()
    if a.smoke:
        a.levels, a.hold = "4", 6.0
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=out))
    files = audio(work)
    agent_ports = [bl_free_port(), bl_free_port()]
    # rtp_peers, like phones behind NAT, send once they hear the gateway:
    # a one-word whisper (and the caller's hold music while it plays) does that.
    gw = Gateway(work, a.bin, dict(zip(("pcmu", "pcma"), agent_ports)), whisper="" if a.sipp_rtp else "Hello.")
    if a.pin:
        PIN.extend(["taskset", "-c", "1"])
        subprocess.run(["taskset", "-a", "-p", "-c", "0", str(gw.pid)], check=True, stdout=subprocess.DEVNULL)
    report = {"machine": {"nproc": os.cpu_count()}, "pinned": a.pin, "idle_rss_kib": bl.proc_rss_kib(gw.pid), "levels": []}
    try:
        for level in [int(x) for x in a.levels.split(",")]:
            if a.sipp_rtp:
                r = level_run(gw, work, level, a.hold, files, agent_ports)
            else:
                r = peers_level_run(gw, work, level, a.hold, agent_ports, a.peers_realtime)
            bl.log(json.dumps(r))
            report["levels"].append(r)
            if r["failed"] or r["agent_failed"]:
                break
            gw.wait_idle()
            wait_ports_free(agent_ports)
    finally:
        gw.stop()
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    first = report["levels"][0] if report["levels"] else {}
    samples = first.get("relay_samples") if a.sipp_rtp else (first.get("relay_caller_to_agent") or {}).get("samples")
    if a.smoke and (first.get("failed") or first.get("ok") != int(a.levels) or not samples):
        bl.log("smoke run failed")
        return 1
    return 0


def wait_ports_free(ports, timeout=30.0):
    """The agents' SIPp of the last level may still hold their ports; the
    next level's would then fail to bind them."""
    import socket
    end = time.time() + timeout
    for port in ports:
        while time.time() < end:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.2)
            finally:
                s.close()


def bl_free_port():
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


if __name__ == "__main__":
    sys.exit(main())
