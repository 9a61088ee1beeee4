#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Plot the histograms `make demo` printed, as one PNG (gnuplot).

The demo's plan (selftests/testbed/demo.sh) prints each histogram between
two marker lines in the guest's output:

    PLOT-DATA <name> <title...>
    <label> <value>
    ...
    PLOT-END

This script reads them from the testbed's ktap.log (or serial.log), writes
one data file per histogram next to the PNG, and draws them as bar charts
one above the other with gnuplot (package gnuplot-nox).  Labels are the
exit reasons or latency buckets the bpftrace scripts printed; values are
counts.

Usage: scripts/demo_plot.py LOG PNG
Exit status: 0 plotted, 1 no PLOT-DATA in LOG, 2 gnuplot missing/failed.
"""
import os
import re
import shutil
import subprocess
import sys

BEGIN_RE = re.compile(r"^(?:# )?PLOT-DATA (\S+) ?(.*)$")
END_RE = re.compile(r"^(?:# )?PLOT-END\s*$")
ROW_RE = re.compile(r"^(?:# )?(\S+)\s+(\d+)\s*$")


def read_plots(path):
    plots = []
    cur = None
    with open(path, errors="replace") as f:
        for raw in f:
            line = raw.rstrip("\r\n").lstrip()
            m = BEGIN_RE.match(line)
            if m:
                cur = (m.group(1), m.group(2) or m.group(1), [])
                continue
            if cur is None:
                continue
            if END_RE.match(line):
                if cur[2]:
                    plots.append(cur)
                cur = None
                continue
            m = ROW_RE.match(line)
            if m:
                # bpftrace's bucket "[64K, 128K)" arrives as "[64K-128K)".
                label = m.group(1).strip("[)")
                cur[2].append((label, int(m.group(2))))
    return plots


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    log, png = argv[1], argv[2]
    plots = read_plots(log)
    if not plots:
        print("demo_plot: no PLOT-DATA in %s" % log, file=sys.stderr)
        return 1
    gp = shutil.which("gnuplot")
    if not gp:
        print("demo_plot: gnuplot not found (apt-get install gnuplot-nox)", file=sys.stderr)
        return 2
    outdir = os.path.dirname(os.path.abspath(png))
    os.makedirs(outdir, exist_ok=True)
    script = ["set terminal pngcairo size 1100,%d font ',10'" % (380 * len(plots)),
              "set output '%s'" % os.path.abspath(png),
              "set multiplot layout %d,1" % len(plots),
              "set style fill solid 0.8 border -1", "set boxwidth 0.7",
              "set grid ytics", "set xtics rotate by -35 left noenhanced",
              "set key off", "set logscale y", "set yrange [0.8:*]"]
    for name, title, rows in plots:
        dat = os.path.join(outdir, "%s.dat" % re.sub(r"[^\w.-]", "_", name))
        with open(dat, "w") as f:
            for label, value in rows:
                f.write('"%s" %d\n' % (label, value))
        script.append("set title '%s' noenhanced" % title.replace("'", ""))
        script.append("set ylabel 'count (log scale)'")
        script.append("plot '%s' using 0:2:xtic(1) with boxes lc rgb '#3a6ea5', "
                      "'' using 0:2:2 with labels offset 0,0.7 font ',8'" % dat)
    script.append("unset multiplot")
    r = subprocess.run([gp], input="\n".join(script) + "\n", text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0 or not os.path.exists(png):
        print("demo_plot: gnuplot failed:\n%s" % r.stdout, file=sys.stderr)
        return 2
    print("demo_plot: %d histogram(s) -> %s" % (len(plots), png))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
