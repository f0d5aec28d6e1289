#!/usr/bin/env python3
"""Plots a load report (scripts/bench_load.py's report.json): gateway and
floor CPU % and the receive-side p99 RTP send-interval jitter against
concurrent calls. Usage: plot_load.py REPORT.json OUT.png"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(report_path, out_path):
    r = json.load(open(report_path))
    levels = [x["level"] for x in r["levels"]]
    cpu = [x["cpu_pct"] for x in r["levels"]]
    jitter = [x.get("jitter_p99_ms") for x in r["levels"]]
    floor = {x["level"]: x["cpu_pct"] for x in r.get("floor", [])}
    fig, ax1 = plt.subplots(figsize=(8, 4.5), dpi=110)
    ax1.plot(levels, cpu, "o-", color="tab:blue", label="gateway CPU % (100 = one core)")
    if floor:
        ax1.plot(levels, [floor.get(l) for l in levels], "s--", color="tab:gray", label="SIPp UAS floor CPU %")
    ax1.set_xlabel("concurrent calls (prompt + DTMF detection + streamed caller audio)")
    ax1.set_ylabel("CPU %")
    ax1.grid(alpha=0.3)
    ax2 = ax1.twinx()
    ax2.plot(levels, jitter, "^-", color="tab:red", label="p99 send-interval jitter (ms)")
    ax2.axhline(2.0, color="tab:red", linestyle=":", linewidth=1, label="budget: 2 ms")
    ax2.set_ylabel("p99 jitter, ms (receive side)")
    lines = ax1.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    labels = ax1.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
    ax1.legend(lines, labels, loc="upper left", fontsize=8)
    ax1.set_title("Centralita under SIPp load on this 2-core machine")
    fig.tight_layout()
    fig.savefig(out_path)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
