#!/usr/bin/python3
"""Summarize and plot a bench/compare/run.sh result folder.

    /usr/bin/python3 bench/compare/summarize.py DIR

Reads DIR/raw.csv; writes DIR/summary.csv (per system, collective, size and
loss: runs, failed runs, median/min/max busbw of the runs that finished
correctly, and the median's ratio to the same system's median at 0% loss),
DIR/summary.md (the tables for bench/RESULTS.md) and, with gnuplot, for each
collective DIR/COLL_busbw.png (busbw vs loss, one panel per size, min..max
as error bars) and DIR/COLL_ratio.png (busbw relative to 0% loss). A run that
failed, timed out or gave wrong results is counted in `failed` and shown as a
missing point, never as a number.
"""
import csv
import os
import statistics
import subprocess
import sys
from collections import defaultdict

SYSTEM_ORDER = ["ltcc-sr", "ltcc-nofec", "ltcc-gbn", "ltcc-auto", "ltcc-auto-fec", "ltcc-rails", "ltcc-flat", "ltcc-ucxnet",
                "ltcc-ucx", "ltcc-ldt", "ompi", "ompi-hosts", "ompi-vader", "gloo"]
LABELS = {
    "ltcc-sr": "ltcc (selective repeat)",
    "ltcc-nofec": "ltcc (selective repeat, no FEC)",
    "ltcc-gbn": "ltcc (go-back-N, RoCE-like)",
    "ompi": "Open MPI (TCP)",
    "ompi-hosts": "Open MPI (vader within a host, TCP between)",
    "ltcc-auto": "ltcc auto (shared memory within a host)",
    "ltcc-rails": "ltcc auto, a rail per local rank (LTCC_IFNAME=eth0,eth1)",
    "ltcc-auto-fec": "ltcc auto, LTCC_FEC=auto (parity on 2 CPUs too)",
    "ltcc-ucx": "ltcc, UCX messages within the host (LTCC_SHM=0)",
    "ltcc-flat": "ltcc ldt, flat ring",
    "ltcc-ucxnet": "ltcc auto, LTCC_NET=ucx (UCX over TCP between hosts)",
    "ltcc-ldt": "ltcc ldt (UDP loopback)",
    "ompi-vader": "Open MPI (vader shared memory)",
    "gloo": "Gloo (torch, TCP)",
}


def size_label(b):
    b = int(b)
    if b >= 1 << 20 and b % (1 << 20) == 0:
        return "%d MiB" % (b >> 20)
    if b >= 1 << 10 and b % (1 << 10) == 0:
        return "%d KiB" % (b >> 10)
    return "%d B" % b


def main(d):
    rows = list(csv.DictReader(open(os.path.join(d, "raw.csv"))))
    runs = defaultdict(list)     # (sys, coll, bytes, loss) -> busbw of good runs
    tails = defaultdict(list)    # ... -> p99 / median iteration time (ltcc-perf only)
    failed = defaultdict(int)
    drops = defaultdict(list)    # (coll, loss) -> measured lab drop %
    sizes, losses, systems, colls = set(), set(), set(), []
    for r in rows:
        loss = float(r["loss_pct"])
        losses.add(loss)
        systems.add(r["system"])
        if r["coll"] not in colls:
            colls.append(r["coll"])
        if r["lab_drop_pct"]:
            drops[(r["coll"], loss)].append(float(r["lab_drop_pct"]))
        if not r["bytes"]:
            # a run with no rows at all: failed at every size
            for b in sizes or []:
                failed[(r["system"], r["coll"], b, loss)] += 1
            continue
        b = int(r["bytes"])
        sizes.add(b)
        key = (r["system"], r["coll"], b, loss)
        if r["status"] == "ok" and r["busbw"]:
            runs[key].append(float(r["busbw"]))
            if r.get("tail"):  # older raw.csv files have no such column
                tails[key].append(float(r["tail"]))
        else:
            failed[key] += 1
    systems = [s for s in SYSTEM_ORDER if s in systems] + sorted(systems - set(SYSTEM_ORDER))
    sizes, losses = sorted(sizes), sorted(losses)

    keys = [(s, c, b, l) for s in systems for c in colls for b in sizes for l in losses]
    med = {k: statistics.median(runs[k]) if runs.get(k) else None for k in keys}
    entry = {}  # (system, coll, bytes, loss) -> summary row, in `keys` order
    for k in keys:
        s, c, b, l = k
        v = runs.get(k, [])
        m, base = med[k], med.get((s, c, b, 0.0))
        entry[k] = {
            "system": s, "coll": c, "bytes": b, "loss_pct": l,
            "runs": len(v) + failed.get(k, 0),
            "failed": failed.get(k, 0),
            "busbw_median": "%.4f" % m if m is not None else "",
            "busbw_min": "%.4f" % min(v) if v else "",
            "busbw_max": "%.4f" % max(v) if v else "",
            "ratio_to_0pct": "%.3f" % (m / base) if m is not None and base else "",
            # worst over runs of (p99 iteration / median iteration) within a run
            "tail_max": "%.2f" % max(tails[k]) if tails.get(k) else "",
        }
    summary = list(entry.values())
    with open(os.path.join(d, "summary.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(summary[0].keys()))
        w.writeheader()
        w.writerows(summary)

    # Markdown: one table per collective; rows = system x size, columns = loss.
    md = []
    for c in colls:
        md.append("#### %s: median busbw in GB/s (min..max over runs), ratio to the system's own 0%%\n" % c)
        md.append("| system | size | " + " | ".join("%g%% loss" % l for l in losses) + " |")
        md.append("|---|---|" + "---|" * len(losses))
        for s in systems:
            for b in sizes:
                cells = []
                for l in losses:
                    e = entry[(s, c, b, l)]
                    if not e["busbw_median"]:
                        cells.append("failed %d/%d" % (e["failed"], e["runs"]) if e["runs"] else "-")
                        continue
                    cell = "%s (%s..%s)" % (e["busbw_median"][:5], e["busbw_min"][:5], e["busbw_max"][:5])
                    if l != 0 and e["ratio_to_0pct"]:
                        cell += " **%sx**" % e["ratio_to_0pct"][:4]
                    if e["failed"]:
                        cell += " [%d/%d failed]" % (e["failed"], e["runs"])
                    cells.append(cell)
                md.append("| %s | %s | %s |" % (LABELS.get(s, s), size_label(b), " | ".join(cells)))
        dl = ["%g%%: %.2f%%" % (l, statistics.median(drops[(c, l)])) for l in losses if drops.get((c, l))]
        md.append("\nPackets the lab's nftables rules dropped (median over runs): " + ", ".join(dl) + "\n")
    open(os.path.join(d, "summary.md"), "w").write("\n".join(md) + "\n")
    print("\n".join(md))

    plot(d, systems, colls, sizes, losses, entry)


def plot(d, systems, colls, sizes, losses, entry):
    try:
        subprocess.run(["gnuplot", "--version"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        print("summarize.py: gnuplot not found (scripts/setup.sh --compare installs it); no plots", file=sys.stderr)
        return
    styles = {"ltcc-sr": "lc rgb '#1f77b4' pt 7", "ltcc-gbn": "lc rgb '#aec7e8' pt 6",
              "ltcc-nofec": "lc rgb '#9467bd' pt 8",
              "ompi": "lc rgb '#d62728' pt 5", "gloo": "lc rgb '#2ca02c' pt 9"}
    for c in colls:
        # data file per (system, size): loss median min max ratio
        files = {}
        for s in systems:
            for b in sizes:
                fn = os.path.join(d, "plot-%s-%s-%d.dat" % (c, s, b))
                with open(fn, "w") as f:
                    for l in losses:
                        e = entry[(s, c, b, l)]
                        if e["busbw_median"]:
                            f.write("%g %s %s %s %s\n" % (l, e["busbw_median"], e["busbw_min"], e["busbw_max"],
                                                          e["ratio_to_0pct"] or "NaN"))
                files[(s, b)] = fn
        n = len(sizes)
        for kind in ("busbw", "ratio"):
            g = []
            g.append("set terminal pngcairo size %d,430 font 'DejaVu Sans,10'" % (380 * n))
            g.append("set output '%s'" % os.path.join(d, "%s_%s.png" % (c, kind)))
            title = ("%s, %s ranks: bus bandwidth vs kernel-level packet loss (median, min..max)" if kind == "busbw"
                     else "%s, %s ranks: bus bandwidth relative to the same system at 0%% loss")
            ranks = open(os.path.join(d, "raw.csv")).readlines()[1].split(",")[2]
            g.append("set multiplot layout 1,%d title \"%s\"" % (n, title % (c, ranks)))
            g.append("set grid; set key bottom left font ',8'; set xlabel 'packet loss (%)'")
            g.append("set xrange [-0.2:%g]" % (max(losses) + 0.2))
            if kind == "ratio":
                g.append("set yrange [0:1.15]; set ylabel 'busbw / busbw at 0%'")
            else:
                g.append("set yrange [0:*]; set ylabel 'busbw (GB/s)'")
            for b in sizes:
                g.append("set title '%s'" % size_label(b))
                parts = []
                for s in systems:
                    fn = files[(s, b)]
                    if os.path.getsize(fn) == 0:
                        continue
                    if kind == "busbw":
                        parts.append("'%s' u 1:2:3:4 w yerrorlines %s lw 2 t '%s'" % (fn, styles.get(s, ""), LABELS.get(s, s)))
                    else:
                        parts.append("'%s' u 1:5 w linespoints %s lw 2 t '%s'" % (fn, styles.get(s, ""), LABELS.get(s, s)))
                if kind == "ratio":
                    parts.append("0.9 w lines dt 2 lc rgb 'gray' t 'target 0.9x'")
                g.append("plot " + ", ".join(parts) if parts else "plot 0 t 'no data'")
            g.append("unset multiplot")
            subprocess.run(["gnuplot"], input="\n".join(g), text=True, check=True)
        for fn in files.values():
            os.remove(fn)
    print("summarize.py: plots in %s" % d)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1])
