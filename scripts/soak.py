#!/usr/bin/env python3
"""Soak (issue #15): a steady mix of calls against the release gateway for
--minutes (default 60), SIPp as the trunk on loopback, the speech path on.

The mix, by calls started: 80 % menu calls streaming speech for a random
5-40 s then pressing 9 and hanging up; 10 % pressing 0 and being blind-
transferred (REFER, NOTIFY 200, BYE); 5 % caller CANCEL while ringing
(`[sip].answer_delay_ms` = 500 makes every call ring); 5 % whose RTP stops
after a random 2-10 s, so the gateway ends them at `[rtp].inactivity_timeout`
(10 s). The call rate is set so that about --concurrency calls are up.

Every 5 s it samples RSS and the live calls; every 60 s (and once in a short
run) a 4 s tcpdump measures the RTP send-interval jitter of the gateway's
streams. At the end: failed calls per kind (SIPp), call records in the store
against answered calls (no record lost; a call CANCELed while ringing
has none by design), RSS after warm-up against its value
then, and the worst window's p99 jitter. Exit status 1 when a call failed
or a record is missing; RSS and jitter are reported, not judged here.

Usage: scripts/soak.sh [--minutes 60] [--concurrency 200] [--bin PATH]
"""

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_load as bl  # noqa: E402  (Gateway pieces, SIPp, capture, pcap analysis)

ROOT = bl.ROOT
SCEN = ROOT / "tests" / "scenarios"
FLOW = SCEN / "load_flow.yaml"

# Mean seconds a call of each kind is up (set-up and prompt included).
MEAN_UP = {"menu": 25.0, "transfer": 4.0, "cancel": 0.6, "rtp_stop": 17.0}
SHARE = {"menu": 0.80, "transfer": 0.10, "cancel": 0.05, "rtp_stop": 0.05}


def config(work):
    return (
        '[sip]\nlisten = ["udp:127.0.0.1:0"]\nanswer_delay_ms = 500\n'
        f'[rtp]\naddress = "127.0.0.1"\nports = "{bl.RTP_LO}-{bl.RTP_HI}"\ninactivity_timeout = 10\n'
        '[api]\nlisten = "127.0.0.1:0"\ntoken = "bench"\n'
        f'[store]\nurl = "sqlite://{work}/centralita.db"\n'
        '[speech]\nasr = "discard"\n'
        '[transfer]\nagent_uri = "sip:agents@127.0.0.1:5070"\nnotify_timeout = 10\n'
        f'[flows]\ndefault = "{FLOW}"\npinned_time = "2026-11-24T15:00:00Z"\n'
        f'[prompts]\ndir = "{ROOT}/prompts/assets"\ncache_dir = "{ROOT}/target/bench-prompt-cache"\n'
    )


def scenarios(work, speech):
    """The four kinds' SIPp scenarios, written into `work`."""
    menu = (SCEN / "load_uac.xml").read_text().replace("@SPEECH@", str(speech))
    menu = menu.replace("<pause/>", '<pause distribution="uniform" min="5000" max="40000"/>', 1)
    transfer = (SCEN / "refer_rfc4733.xml").read_text().replace("@RTP_PORT@", "[media_port]").replace("@SIPFRAG@", "200 OK")
    cancel = (SCEN / "cancel.xml").read_text()
    stop = (SCEN / "load_uac.xml").read_text().replace("@SPEECH@", str(speech))
    # Speech for 2-10 s, then the stream stops and the gateway hangs up.
    head = stop[: stop.index("  <pause/>")]
    stop = head + (
        '  <pause distribution="uniform" min="2000" max="10000"/>\n'
        '  <nop><action><exec rtp_stream="pause"/></action></nop>\n'
        '  <recv request="BYE" timeout="40000"/>\n'
        "  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      [last_To:]\n"
        "      [last_Call-ID:]\n      [last_CSeq:]\n      Content-Length: 0\n    ]]>\n  </send>\n</scenario>\n"
    )
    out = {}
    for kind, text in (("menu", menu), ("transfer", transfer), ("cancel", cancel), ("rtp_stop", stop)):
        path = work / f"soak_{kind}.xml"
        path.write_text(text)
        out[kind] = path
    return out


def start(gw, work, kind, sf, rate, calls, media_port):
    stat = work / f"soak_{kind}_stat.csv"
    cmd = ["sipp", gw.sip, "-sf", str(sf), "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", str(media_port),
           "-m", str(calls), "-l", str(max(4, int(rate * MEAN_UP[kind] * 3))), "-r", str(rate), "-rp", "1000",
           "-nostdin", "-timeout_error", "-trace_stat", "-stf", str(stat), "-fd", "1", "-max_socket", "65000", "-bg"]
    out = bl.subprocess.run(cmd, cwd=work, stdout=bl.subprocess.PIPE, stderr=bl.subprocess.STDOUT, text=True).stdout
    try:
        pid = int(out.split("PID=[", 1)[1].split("]", 1)[0])
    except (IndexError, ValueError):
        raise RuntimeError(f"sipp did not start: {' '.join(cmd)}: {out}")
    return stat, pid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--out", default=str(ROOT / "target" / "soak"))
    ap.add_argument("--bin", default=str(bl.BIN))
    a = ap.parse_args()
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=out))
    speech = bl.make_speech(work)
    gw = bl.Gateway(work, a.bin, config=config(work))
    seconds = a.minutes * 60.0
    # Calls per second so that the mix keeps about `concurrency` calls up.
    total_rate = a.concurrency / sum(SHARE[k] * MEAN_UP[k] for k in SHARE)
    sf = scenarios(work, speech)
    runs, started = {}, {}
    # SIPp's media ports below the gateway's RTP range and the kernel's
    # ephemeral ports, 2,000 apart per instance.
    for i, kind in enumerate(SHARE):
        rate = total_rate * SHARE[kind]
        calls = max(1, round(rate * seconds))
        started[kind] = calls
        runs[kind] = start(gw, work, kind, sf[kind], round(rate, 3), calls, 12000 + 2000 * i)
    t0 = time.time()
    samples, jitter = [], []
    next_capture = t0 + min(60.0, seconds / 2)
    try:
        while time.time() - t0 < seconds:
            time.sleep(5.0)
            samples.append({"t_s": round(time.time() - t0, 1), "rss_kib": bl.proc_rss_kib(gw.pid), "live": gw.active_calls()})
            if time.time() >= next_capture:
                res = bl.analyse(pcap := bl.capture(work, f"soak{len(jitter)}", 4.0))
                pcap.unlink()
                jitter.append({"t_s": round(time.time() - t0, 1), **{k: res[k] for k in ("streams", "jitter_p50_ms", "jitter_p99_ms", "lost", "late_over_40ms")}})
                next_capture += 60.0
        for stat, pid in runs.values():
            bl.wait_sipp(pid, 180)
        gw.wait_idle(120)
    finally:
        gw.stop()
    totals = {kind: dict(zip(("ok", "failed"), bl.sipp_totals(stat))) for kind, (stat, _) in runs.items()}
    db = sqlite3.connect(work / "centralita.db")
    records = db.execute("select count(*) from calls").fetchone()[0]
    open_records = db.execute("select count(*) from calls where ended_at is null").fetchone()[0]
    calls = sum(t["ok"] + t["failed"] for t in totals.values())
    # A call CANCELed while ringing never reached a flow: by design it has
    # no call record (only answered calls do); every other call must.
    answered = calls - totals["cancel"]["ok"] - totals["cancel"]["failed"]
    warm = [s for s in samples if s["t_s"] >= min(60.0, seconds * 0.2)]
    rss0 = warm[0]["rss_kib"] if warm else None
    report = {
        "minutes": a.minutes, "concurrency_target": a.concurrency, "call_rate": round(total_rate, 2), "started": started,
        "sipp": totals, "failed": sum(t["failed"] for t in totals.values()), "calls": calls, "answered_calls": answered,
        "records": records, "records_left_open": open_records,
        "live_max": max((s["live"] for s in samples), default=0),
        "rss_after_warmup_kib": rss0, "rss_end_kib": warm[-1]["rss_kib"] if warm else None,
        "rss_drift_pct": round((max(s["rss_kib"] for s in warm) - rss0) / rss0 * 100.0, 1) if warm else None,
        "jitter_windows": jitter, "jitter_p99_worst_ms": max((j["jitter_p99_ms"] or 0 for j in jitter), default=None),
        "samples": samples,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    ok = report["failed"] == 0 and records == answered and open_records == 0
    if not ok:
        bl.log(f"soak failed: {report['failed']} failed calls, {records} records for {answered} answered calls, {open_records} left open")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
