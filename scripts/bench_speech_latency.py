#!/usr/bin/env python3
"""Turn-latency benchmark (issue #5): how long after the caller's turn ends
does the next prompt start, with the built-in recogniser and voice?

SIPp calls the release gateway on loopback (tests/scenarios/latency_uac.xml,
latency_flow.yaml), one call at a time. Each call hears the menu for 800 ms,
then either speaks (espeak-ng, several voices and phrases, streamed as PCMU
with 1.5 s of silence after the words) or presses a key (RFC 4733, Debian's
pcap). The flow answers every outcome with its next prompt.

Measured on the wire (tcpdump on lo) for every call:
  speech: end of the caller's words (last 20 ms frame above -40 dBFS in the
          streamed file, placed at the stream's first packet) -> first packet
          of the next prompt (marker bit) from the gateway. This includes
          the end-of-speech silence the VAD waits for ([speech]
          end_of_speech_ms) before it may end the turn.
  dtmf:   first RFC 4733 packet of the digit -> first packet of the next
          prompt.
And from the gateway's log: VAD end of speech (the endpoint) -> first packet
of the next prompt (`turn_ms`, also the `centralita_turn_seconds` metric).

With the default `complete_timeout_ms` (200) the VAD ends the turn 200 ms
after the words once the recogniser's partial result matches a phrase
(VoiceXML completetimeout); `--complete-timeout-ms 0` measures the plain
600 ms endpointing.

Usage: scripts/bench-speech-latency.sh [--calls 10] [--end-of-speech-ms 600]
       [--complete-timeout-ms 200] [--out target/bench-speech-latency]
"""

import argparse
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_load import ROOT, log, read_pcap_full  # noqa: E402

BIN = ROOT / "target" / "release" / "centralita"
SCENARIO = ROOT / "tests" / "scenarios" / "latency_uac.xml"
FLOW = ROOT / "tests" / "scenarios" / "latency_flow.yaml"
RTP_LO, RTP_HI = 20000, 29999  # the gateway's; SIPp's media ports start at 40000
DTMF_PCAP = "/usr/share/sip-tester/dtmf_2833_2.pcap"

# (text, espeak-ng voice, words per minute)
UTTERANCES = [
    ("support", "en-us", 160),
    ("I need help with my account", "en-us+f3", 150),
    ("representative", "en-us+m3", 170),
    ("can I speak to a person please", "en-us", 150),
]


def ulaw_to_linear(b):
    b = ~b & 0xFF
    t = ((b & 0x0F) << 3) + 0x84
    t <<= (b & 0x70) >> 4
    return (0x84 - t) if b & 0x80 else (t - 0x84)


def make_speech(work, i, text, voice, wpm, piper=False):
    wav, raw = work / f"u{i}.wav", work / f"u{i}.ulaw"
    if piper:
        # The Piper voice (test audio only; scripts/piper_say.py in the test venv).
        py = os.environ.get("WHISPER_VENV", str(ROOT / "target" / "whisper-venv")) + "/bin/python"
        subprocess.run([py, str(ROOT / "scripts" / "piper_say.py"), str(wav), text, "--seed", str(i)], check=True)
    else:
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(wav), text], check=True)
    subprocess.run(["sox", str(wav), "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw", str(raw), "pad", "0", "1.5"], check=True)
    data = raw.read_bytes()
    end = 0
    for f in range(len(data) // 160):
        frame = [ulaw_to_linear(b) for b in data[f * 160:(f + 1) * 160]]
        rms = math.sqrt(sum(s * s for s in frame) / 160)
        if rms > 328:  # -40 dBFS
            end = (f + 1) * 0.020
    return raw, end


def start_gateway(binary, work, eos_ms, complete_ms, asr="builtin"):
    cfg = work / "centralita.toml"
    cfg.write_text(
        '[sip]\nlisten = ["udp:127.0.0.1:0"]\n'
        f'[rtp]\naddress = "127.0.0.1"\nports = "{RTP_LO}-{RTP_HI}"\ninactivity_timeout = 30\n'
        '[api]\nlisten = "127.0.0.1:0"\ntoken = "bench"\n'
        f'[store]\nurl = "sqlite://{work}/centralita.db"\n'
        f'[speech]\nasr = "{asr}"\ntts = "builtin"\nend_of_speech_ms = {eos_ms}\ncomplete_timeout_ms = {complete_ms}\n'
        f'[flows]\ndefault = "{FLOW}"\npinned_time = "2026-11-24T15:00:00Z"\n'
        f'[prompts]\ndir = "{ROOT}/prompts/assets"\ncache_dir = "{ROOT}/target/bench-prompt-cache"\n'
    )
    logf = open(work / "gateway.log", "w")
    env = dict(os.environ, RUST_LOG="info")
    p = subprocess.Popen([str(binary), "run", "--config", str(cfg)], stdout=subprocess.PIPE, stderr=logf, env=env, text=True)
    ready = json.loads(p.stdout.readline())
    return p, next(s[4:] for s in ready["sip"] if s.startswith("udp:"))


def run_calls(target, work, tag, action, calls):
    sf = work / f"{tag}.xml"
    sf.write_text(SCENARIO.read_text().replace("@ACTION@", action))
    cmd = ["sipp", target, "-sf", str(sf), "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", "40000",
           "-m", str(calls), "-l", "1", "-r", "5", "-nostdin", "-timeout", "300s", "-timeout_error",
           "-trace_err", "-error_file", str(work / f"{tag}_err.log")]
    r = subprocess.run(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"sipp {tag} failed ({r.returncode}): {r.stderr[-500:]}")


def turns(pcap, offsets):
    """Per call: (kind, turn end on the wire, next prompt's first packet)."""
    inbound, outbound = {}, {}  # gateway port -> [(t, pt, marker, ssrc, loud)]
    for t, sport, dport, rtp, payload in read_pcap_full(pcap):
        if len(rtp) < 12 or rtp[0] >> 6 != 2:
            continue
        pt, marker, ssrc = rtp[1] & 0x7F, rtp[1] >> 7, rtp[8:12]
        if RTP_LO <= sport <= RTP_HI:
            loud = any(b not in (0xFF, 0x7F) for b in payload)
            outbound.setdefault(sport, []).append((t, marker, loud))
        elif RTP_LO <= dport <= RTP_HI:
            inbound.setdefault((dport, ssrc), []).append((t, pt))
    out = []
    for (port, _), pkts in inbound.items():
        t0 = pkts[0][0]
        if pkts[0][1] == 101:
            kind, end = "dtmf", t0
        else:
            kind, end = "speech", t0 + offsets["speech"]
        nxt = next((t for t, m, loud in outbound.get(port, []) if m and loud and end < t < end + 10), None)
        if nxt is not None:
            out.append((kind, end, nxt))
    return out


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return None
    return round(xs[min(len(xs) - 1, max(0, math.ceil(q / 100 * len(xs)) - 1))], 1)


def summary(xs):
    return {"n": len(xs), "p50_ms": pct(xs, 50), "p95_ms": pct(xs, 95), "max_ms": pct(xs, 100),
            "mean_ms": round(statistics.mean(xs), 1) if xs else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10, help="calls per utterance and for DTMF")
    ap.add_argument("--end-of-speech-ms", type=int, default=600)
    ap.add_argument("--complete-timeout-ms", type=int, default=200)
    ap.add_argument("--asr", default="builtin", help="[speech].asr: builtin (Whisper) or pocketsphinx")
    ap.add_argument("--piper", action="store_true", help="callers speak with the Piper voice instead of espeak-ng")
    ap.add_argument("--out", default=str(ROOT / "target" / "bench-speech-latency"))
    ap.add_argument("--bin", default=str(BIN), help="the gateway binary (CI's smoke run uses the debug one)")
    a = ap.parse_args()
    work = Path(a.out).resolve()
    work.mkdir(parents=True, exist_ok=True)
    gw, target = start_gateway(a.bin, work, a.end_of_speech_ms, a.complete_timeout_ms, a.asr)
    pcap = work / "turns.pcap"
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-s", "200", "-B", "65536", "-w", str(pcap), "-U",
                             f"udp and portrange {RTP_LO}-{RTP_HI}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # tcpdump has no ready signal; it must be capturing before the first call
    wire = {"speech": [], "dtmf": []}
    try:
        for i, (text, voice, wpm) in enumerate(UTTERANCES):
            raw, end = make_speech(work, i, text, voice, wpm, a.piper)
            log(f"speech {i}: {text!r} ({voice}), words end at {end:.2f} s; {a.calls} calls")
            run_calls(target, work, f"speech{i}", f'rtp_stream="{raw},1,0"', a.calls)
            wire["speech"].append((end, a.calls))
        log(f"dtmf: {a.calls} calls")
        run_calls(target, work, "dtmf", f'play_pcap_audio="{DTMF_PCAP}"', a.calls)
        time.sleep(1.0)
    finally:
        dump.send_signal(signal.SIGINT)
        dump.wait(timeout=10)
        gw.send_signal(signal.SIGTERM)
        gw.wait(timeout=10)
    raise SystemExit(report(work, pcap, wire, a))


def report(work, pcap, phases, a):
    # Calls ran one at a time in phase order, so the n-th speech call on the
    # wire belongs to the phase that ran n-th.
    ends = [end for end, n in phases["speech"] for _ in range(n)]
    calls = sorted(turns(pcap, {"speech": 0.0}), key=lambda c: c[1])
    speech_calls = [c for c in calls if c[0] == "speech"]
    wire_speech = [(nxt - (t0 + off)) * 1000 for (_, t0, nxt), off in zip(speech_calls, ends)]
    wire_dtmf = [(nxt - end) * 1000 for kind, end, nxt in calls if kind == "dtmf"]
    text = (work / "gateway.log").read_text()
    endpoint = {"speech": [], "dtmf": []}
    for m in re.finditer(r'input="?(speech|dtmf)"? turn_ms="?([0-9.]+)', text):
        endpoint[m.group(1)].append(float(m.group(2)))
    intents = len(re.findall(r"intent=(support|agent)", text))
    rep = {
        "asr": a.asr,
        "voice": "piper" if a.piper else "espeak-ng",
        "end_of_speech_ms": a.end_of_speech_ms,
        "complete_timeout_ms": a.complete_timeout_ms,
        "calls_per_phase": a.calls,
        "speech_words_end_to_prompt": summary(wire_speech),
        "speech_endpoint_to_prompt": summary(endpoint["speech"]),
        "dtmf_to_prompt": summary(wire_dtmf),
        "dtmf_endpoint_to_prompt": summary(endpoint["dtmf"]),
        "speech_calls_with_an_intent": intents,
    }
    (work / "report.json").write_text(json.dumps(rep, indent=2))
    print(json.dumps(rep, indent=2))
    expected = a.calls * len(phases["speech"])
    if len(wire_speech) != expected or len(wire_dtmf) != a.calls:
        log(f"measured {len(wire_speech)}/{expected} speech and {len(wire_dtmf)}/{a.calls} DTMF turns")
        return 1
    return 0


if __name__ == "__main__":
    main()
