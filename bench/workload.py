#!/usr/bin/env python3
"""The benchmark's workload: LAS well-log files to HTML pages.

    workload.py [--quick] [--numpy] --data DIR --out DIR

A program of the kind pymemtrace is pointed at: it reads LAS 2.0 well logs (a
header of sections holding `MNEM.UNIT  value : description` lines, then an
`~A` block of floating point numbers in columns), parses them into small
objects (HeaderItem, LASSection, Curve, LASFile), computes per-curve summaries
(min, max, mean, standard deviation, a histogram), and writes one HTML page per
file plus an index page. It mixes Python calls with C calls (str methods,
float(), list and dict methods, html.escape, file I/O) and allocates and frees
as it goes.

The inputs are made here, deterministically (seeded `random`), in --data DIR.
A stamp file records what was made, so a later run with the same settings
reuses them: the benchmark runner makes them once, untraced, and the traced
runs then only read them. Only the conversion of all files is timed; the
last line printed is `WORKLOAD_SECONDS <seconds>`.

--numpy keeps the curves in numpy arrays (the ~A block parsed in C, the
statistics done by numpy, and each curve resampled onto a fine depth grid for
its plot), so that C-extension allocations of tens of MB come and go and move
RSS. Its files are fewer and longer.

Standard library only (numpy for --numpy); runs on Python 3.8 to 3.15.
"""

import argparse
import html
import math
import os
import random
import sys
import time

STAMP_NAME = "WORKLOAD-INPUTS"
STAMP_VERSION = 1
NULL_VALUE = -999.25

# Sizes: (files, rows of the first file, rows added per further file).
# Full: ~0.3 s untraced under Debian's python3 3.11; quick: about a third.
SIZES = {
    ("python", False): (22, 3400, 150),
    ("python", True): (10, 3000, 150),
    ("numpy", False): (6, 16000, 1000),
    ("numpy", True): (3, 12000, 1000),
}

# mnemonic, unit, description, typical value, walk step, noise, lower, upper
CURVE_KINDS = [
    ("GR", "GAPI", "Gamma ray", 75.0, 2.5, 4.0, 0.0, 250.0),
    ("CALI", "MM", "Caliper", 216.0, 0.6, 1.5, 150.0, 400.0),
    ("RHOB", "G/C3", "Bulk density", 2.45, 0.01, 0.02, 1.8, 3.1),
    ("NPHI", "V/V", "Neutron porosity", 0.22, 0.004, 0.01, -0.05, 0.6),
    ("DT", "US/M", "Sonic transit time", 290.0, 2.0, 3.0, 150.0, 550.0),
    ("ILD", "OHMM", "Deep induction resistivity", 12.0, 0.4, 0.8, 0.2, 2000.0),
    ("SP", "MV", "Spontaneous potential", -35.0, 0.8, 1.2, -150.0, 50.0),
    ("PEF", "B/E", "Photoelectric factor", 3.1, 0.05, 0.1, 1.0, 6.5),
    ("TEMP", "DEGC", "Borehole temperature", 48.0, 0.002, 0.01, 10.0, 180.0),
]

COMPANIES = ["North Basin Energy", "Kestrel Oil & Gas", "Aurora Petroleum <UK>",
             "Meridian Exploration", "Halcyon Resources"]
FIELDS = ["Brent Deep", "Ravenscar", "Tern East", "Harding South", "Viking Graben"]


# ---------------------------------------------------------------------------
# Input generation (not timed)

def input_settings(quick, use_numpy):
    """The description of the inputs a run needs, as written in the stamp."""
    files, rows, step = SIZES[("numpy" if use_numpy else "python", quick)]
    return "version=%d files=%d rows=%d step=%d numpy=%d" % (
        STAMP_VERSION, files, rows, step, int(use_numpy))


def make_inputs(data_dir, quick, use_numpy):
    """Writes the LAS files into data_dir unless the stamp says they are there."""
    settings = input_settings(quick, use_numpy)
    stamp = os.path.join(data_dir, STAMP_NAME)
    try:
        with open(stamp) as f:
            if f.read().strip() == settings:
                return
    except OSError:
        pass
    os.makedirs(data_dir, exist_ok=True)
    for name in os.listdir(data_dir):
        if name.endswith(".las") or name == STAMP_NAME:
            os.unlink(os.path.join(data_dir, name))
    files, rows, step = SIZES[("numpy" if use_numpy else "python", quick)]
    for i in range(files):
        rng = random.Random(1000 + i)
        path = os.path.join(data_dir, "well_%03d.las" % i)
        write_las(path, rng, i, rows + i * step)
    with open(stamp, "w") as f:
        f.write(settings + "\n")


def write_las(path, rng, index, rows):
    kinds = [CURVE_KINDS[0]] + rng.sample(CURVE_KINDS[1:], rng.randint(5, 8))
    start = round(rng.uniform(800.0, 2500.0), 1)
    step = 0.1524
    stop = start + step * (rows - 1)
    company = COMPANIES[index % len(COMPANIES)]
    field = FIELDS[(index * 3) % len(FIELDS)]
    out = []
    out.append("~Version Information")
    out.append(" VERS.                 2.0 : CWLS LOG ASCII STANDARD - VERSION 2.0")
    out.append(" WRAP.                  NO : One line per depth step")
    out.append("~Well Information Block")
    out.append("#MNEM.UNIT       Data Type    : Information")
    out.append(" STRT.M     %12.4f : START DEPTH" % start)
    out.append(" STOP.M     %12.4f : STOP DEPTH" % stop)
    out.append(" STEP.M     %12.4f : STEP" % step)
    out.append(" NULL.      %12.2f : NULL VALUE" % NULL_VALUE)
    out.append(" COMP.      %s : COMPANY" % company)
    out.append(" WELL.      %s %d-%02d : WELL" % (field.upper(), 10 + index, index * 7 % 31))
    out.append(" FLD .      %s : FIELD" % field)
    out.append(" LOC .      %d.%03d N %d.%03d E : LOCATION" % (
        rng.randint(55, 61), rng.randint(0, 999), rng.randint(0, 3), rng.randint(0, 999)))
    out.append(" CTRY.      UK : COUNTRY")
    out.append(" SRVC.      Wireline Services Ltd : SERVICE COMPANY")
    out.append(" DATE.      %04d-%02d-%02d : LOG DATE" % (
        rng.randint(1985, 2022), rng.randint(1, 12), rng.randint(1, 28)))
    out.append(" UWI .      GB-%08d : UNIQUE WELL ID" % rng.randint(0, 10 ** 8 - 1))
    out.append("~Curve Information Block")
    out.append("#MNEM.UNIT       API CODE     : Curve Description")
    out.append(" DEPT.M                    : 1  Measured depth")
    for n, kind in enumerate(kinds[1:], 2):
        out.append(" %-4s.%-8s %02d %03d %02d %02d : %d  %s" % (
            kind[0], kind[1], rng.randint(0, 99), rng.randint(0, 999),
            rng.randint(0, 99), rng.randint(0, 99), n, kind[2]))
    out.append("~Parameter Information Block")
    out.append(" BHT .DEGC     %8.2f : Bottom hole temperature" % rng.uniform(60, 160))
    out.append(" BS  .MM       %8.2f : Bit size" % rng.choice([215.9, 311.15, 444.5]))
    out.append(" RMF .OHMM     %8.4f : Mud filtrate resistivity" % rng.uniform(0.02, 0.5))
    out.append(" MDEN.G/C3     %8.4f : Matrix density" % 2.65)
    out.append(" EKB .M        %8.2f : Elevation of kelly bushing" % rng.uniform(20, 40))
    out.append("~Other")
    out.append(" Logged by the generator of the pymemtrace agent benchmark.")
    out.append(" Depths are driller's depths; values of %.2f mark no reading." % NULL_VALUE)
    out.append("~A  DEPTH " + " ".join("%10s" % k[0] for k in kinds[1:]))
    values = [k[3] for k in kinds[1:]]
    washout = 0
    for r in range(rows):
        row = ["%10.4f" % (start + r * step)]
        if washout == 0 and rng.random() < 0.002:
            washout = rng.randint(3, 40)
        for c, kind in enumerate(kinds[1:]):
            v = values[c] + rng.gauss(0.0, kind[4])
            v = min(max(v, kind[6]), kind[7])
            values[c] = v
            if washout and c % 2 == 0:
                row.append("%10.2f" % NULL_VALUE)
            else:
                row.append("%10.4f" % (v + rng.gauss(0.0, kind[5])))
        if washout:
            washout -= 1
        out.append(" ".join(row))
    with open(path, "w") as f:
        f.write("\n".join(out))
        f.write("\n")


# ---------------------------------------------------------------------------
# Parsing

class HeaderItem:
    def __init__(self, mnemonic, unit, value, description):
        self.mnemonic = mnemonic
        self.unit = unit
        self.value = value
        self.description = description

    def number(self):
        try:
            return float(self.value)
        except ValueError:
            return None


class LASSection:
    def __init__(self, name, title):
        self.name = name
        self.title = title
        self.items = {}
        self.lines = []

    def add(self, item):
        self.items[item.mnemonic] = item

    def get(self, mnemonic, default=""):
        item = self.items.get(mnemonic)
        return item.value if item is not None else default

    def number(self, mnemonic, default=None):
        item = self.items.get(mnemonic)
        if item is None:
            return default
        value = item.number()
        return default if value is None else value


class Curve:
    def __init__(self, mnemonic, unit, api_code, description):
        self.mnemonic = mnemonic
        self.unit = unit
        self.api_code = api_code
        self.description = description
        self.values = []
        self.summary = None
        self.points = []
        self.steep = None


class CurveSummary:
    def __init__(self, count, nulls, low, high, mean, stdev, edges, counts):
        self.count = count
        self.nulls = nulls
        self.low = low
        self.high = high
        self.mean = mean
        self.stdev = stdev
        self.edges = edges
        self.counts = counts


class LASFile:
    def __init__(self, path):
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.sections = {}
        self.curves = []
        self.null = NULL_VALUE
        self.rows = 0

    def section(self, letter):
        return self.sections.get(letter) or LASSection(letter, "")


def parse_header_line(line):
    """`MNEM.UNIT  value : description` -> HeaderItem (the value may hold dots)."""
    mnemonic, _, rest = line.strip().partition(".")
    unit, _, rest = rest.partition(" ")
    value, colon, description = rest.rpartition(":")
    if not colon:
        value, description = description, ""
    return HeaderItem(mnemonic.strip(), unit.strip(), value.strip(), description.strip())


def read_las(path, use_numpy):
    las = LASFile(path)
    with open(path) as f:
        text = f.read()
    head, marker, data = text.partition("\n~A")
    section = None
    for line in head.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("~"):
            letter = line[1:2].upper()
            section = LASSection(letter, line[1:].strip())
            las.sections[letter] = section
            continue
        if section is None:
            continue
        if section.name == "O":
            section.lines.append(line.strip())
            continue
        item = parse_header_line(line)
        section.add(item)
        if section.name == "C":
            api, _, description = item.description.partition("  ")
            if not description:
                api, description = "", api
            las.curves.append(Curve(item.mnemonic, item.unit, item.value, description.strip()))
    las.null = las.section("W").number("NULL", NULL_VALUE)
    body = data.partition("\n")[2]
    if use_numpy:
        read_data_numpy(las, body)
    else:
        read_data(las, body)
    return las


def read_data(las, body):
    null = las.null
    columns = [c.values for c in las.curves]
    width = len(columns)
    for line in body.splitlines():
        fields = line.split()
        if len(fields) != width:
            continue
        for column, field in zip(columns, fields):
            value = float(field)
            column.append(None if value == null else value)
    las.rows = len(columns[0]) if columns else 0


def read_data_numpy(las, body):
    import numpy as np
    # fromstring with a separator parses the text in C (only its binary mode is deprecated)
    table = np.fromstring(body, sep=" ")
    width = len(las.curves)
    table = table[: table.size - table.size % width].reshape(-1, width)
    for i, curve in enumerate(las.curves):
        column = np.array(table[:, i])
        column[column == las.null] = np.nan
        curve.values = column
    las.rows = table.shape[0]
    del table


# ---------------------------------------------------------------------------
# Summaries

BINS = 24


def summarise(values):
    valid = [v for v in values if v is not None]
    nulls = len(values) - len(valid)
    if not valid:
        return CurveSummary(0, nulls, None, None, None, None, [], [])
    low = min(valid)
    high = max(valid)
    mean = math.fsum(valid) / len(valid)
    if len(valid) > 1:
        stdev = math.sqrt(math.fsum((v - mean) ** 2 for v in valid) / (len(valid) - 1))
    else:
        stdev = 0.0
    edges, counts = histogram(valid, low, high, BINS)
    return CurveSummary(len(valid), nulls, low, high, mean, stdev, edges, counts)


def histogram(values, low, high, bins):
    width = (high - low) / bins or 1.0
    counts = [0] * bins
    last = bins - 1
    for v in values:
        i = int((v - low) / width)
        counts[i if i < last else last] += 1
    edges = [low + width * i for i in range(bins + 1)]
    return edges, counts


def summarise_numpy(values):
    import numpy as np
    valid = values[~np.isnan(values)]
    nulls = int(values.size - valid.size)
    if valid.size == 0:
        return CurveSummary(0, nulls, None, None, None, None, [], [])
    counts, edges = np.histogram(valid, bins=BINS)
    return CurveSummary(int(valid.size), nulls, float(valid.min()), float(valid.max()),
                        float(np.mean(valid)), float(np.std(valid, ddof=1)) if valid.size > 1 else 0.0,
                        [float(e) for e in edges], [int(c) for c in counts])


def profile_points(las, curve, points=400):
    """(depth, value) pairs for the curve's plot: means of about `points` windows."""
    depth = las.curves[0].values
    stride = max(1, len(depth) // points)
    picked = []
    for i in range(0, len(depth), stride):
        window = [v for v in curve.values[i:i + stride] if v is not None]
        if window:
            picked.append((depth[i], sum(window) / len(window)))
    return picked


def profile_points_numpy(las, factor=16, window=33, points=400):
    """Sets the plot points of every curve of `las`, the numpy way.

    As a plotting step would, it resamples all curves onto one depth grid
    `factor` times finer (a 2-D array of tens of MB), smooths them with a
    moving average (cumulative sums: more arrays of the same size), and
    counts the steep steps; every temporary is freed before the next file.
    """
    import numpy as np
    depth = las.curves[0].values
    curves = las.curves[1:]
    fine = np.linspace(depth[0], depth[-1], depth.size * factor)
    grid = np.empty((len(curves), fine.size))
    for row, curve in zip(grid, curves):
        good = ~np.isnan(curve.values)
        if good.any():
            row[:] = np.interp(fine, depth[good], curve.values[good])
        else:
            row[:] = 0.0
    sums = np.cumsum(grid, axis=1)
    smooth = (sums[:, window:] - sums[:, :-window]) / window
    del sums
    steps = np.abs(np.diff(smooth, axis=1))
    limits = 4.0 * steps.mean(axis=1, keepdims=True)
    steep = np.count_nonzero(steps > limits, axis=1)
    del steps
    stride = max(1, smooth.shape[1] // points)
    depths = fine[window // 2: window // 2 + smooth.shape[1]: stride].tolist()
    for i, curve in enumerate(curves):
        curve.points = list(zip(depths, smooth[i, ::stride].tolist()))
        curve.steep = int(steep[i])
    del fine, grid, smooth


# ---------------------------------------------------------------------------
# HTML

def esc(value):
    return html.escape(str(value), quote=True)


def fmt(value):
    if value is None:
        return "&ndash;"
    if value != value:
        return "NaN"
    magnitude = abs(value)
    if magnitude >= 1000:
        return "%.1f" % value
    if magnitude >= 1:
        return "%.3f" % value
    return "%.4f" % value


def header_table(section):
    parts = ['<table class="header"><caption>%s</caption>' % esc(section.title),
             "<tr><th>Mnemonic</th><th>Unit</th><th>Value</th><th>Description</th></tr>"]
    for item in section.items.values():
        parts.append("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
            esc(item.mnemonic), esc(item.unit), esc(item.value), esc(item.description)))
    parts.append("</table>")
    return "\n".join(parts)


def histogram_svg(summary, width=240, height=60):
    if not summary.counts:
        return ""
    top = max(summary.counts) or 1
    bar = width / BINS
    rects = []
    for i, count in enumerate(summary.counts):
        h = height * count / top
        rects.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>' % (
            i * bar, height - h, bar - 1, h))
    return '<svg class="hist" width="%d" height="%d">%s</svg>' % (width, height, "".join(rects))


def profile_svg(points, width=160, height=480):
    if len(points) < 2:
        return ""
    depths = [p[0] for p in points]
    values = [p[1] for p in points]
    d0, d1 = min(depths), max(depths)
    v0, v1 = min(values), max(values)
    dx = (v1 - v0) or 1.0
    dy = (d1 - d0) or 1.0
    coords = " ".join("%.1f,%.1f" % ((v - v0) / dx * width, (d - d0) / dy * height)
                      for d, v in points)
    return ('<svg class="track" width="%d" height="%d"><polyline points="%s"/></svg>'
            % (width, height, coords))


def sample_rows(las, every):
    rows = []
    columns = [c.values for c in las.curves]
    for r in range(0, las.rows, every):
        cells = []
        for column in columns:
            v = column[r]
            cells.append("<td>%s</td>" % fmt(None if v is None else float(v)))
        rows.append("<tr>%s</tr>" % "".join(cells))
    return rows


STYLE = """body { font-family: sans-serif; margin: 2em; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
td, th { border: 1px solid #bbb; padding: 2px 6px; text-align: right; }
caption { font-weight: bold; text-align: left; }
svg.hist rect { fill: #4a7ab5; } svg.track polyline { fill: none; stroke: #b5544a; }"""


def page(las):
    well = las.section("W")
    title = "%s &mdash; %s" % (esc(well.get("WELL")), esc(well.get("COMP")))
    parts = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">",
             "<title>%s</title><style>%s</style></head><body>" % (title, STYLE),
             "<h1>%s</h1>" % title,
             "<p>%d curves, %d depth steps from %s to %s %s.</p>" % (
                 len(las.curves), las.rows, fmt(well.number("STRT")),
                 fmt(well.number("STOP")), esc(well.items["STRT"].unit))]
    for letter in ("V", "W", "C", "P"):
        if letter in las.sections:
            parts.append(header_table(las.sections[letter]))
    other = las.sections.get("O")
    if other is not None:
        parts.append("<pre>%s</pre>" % esc("\n".join(other.lines)))
    parts.append('<table class="curves"><caption>Curves</caption><tr><th>Curve</th>'
                 "<th>Unit</th><th>Samples</th><th>Nulls</th><th>Min</th><th>Max</th>"
                 "<th>Mean</th><th>Std dev</th><th>Steep steps</th><th>Histogram</th>"
                 "<th>Profile</th></tr>")
    for curve in las.curves[1:]:
        s = curve.summary
        parts.append("<tr><td title=\"%s\">%s</td><td>%s</td><td>%d</td><td>%d</td>"
                     "<td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
                         esc(curve.description), esc(curve.mnemonic), esc(curve.unit),
                         s.count, s.nulls, fmt(s.low), fmt(s.high), fmt(s.mean), fmt(s.stdev),
                         "&ndash;" if curve.steep is None else curve.steep,
                         histogram_svg(s), profile_svg(curve.points)))
    parts.append("</table>")
    parts.append('<table class="data"><caption>Every %dth depth step</caption><tr>' % las.every)
    parts.append("".join("<th>%s<br>%s</th>" % (esc(c.mnemonic), esc(c.unit)) for c in las.curves))
    parts.append("</tr>")
    parts.extend(sample_rows(las, las.every))
    parts.append("</table></body></html>")
    return "\n".join(parts)


def index_page(entries):
    parts = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\"><title>Well logs</title>",
             "<style>%s</style></head><body><h1>Well logs</h1>" % STYLE,
             "<table><tr><th>Well</th><th>Company</th><th>Field</th><th>Top</th>"
             "<th>Bottom</th><th>Curves</th><th>Depth steps</th></tr>"]
    for entry in sorted(entries, key=lambda e: e["well"]):
        parts.append('<tr><td><a href="%s">%s</a></td><td>%s</td><td>%s</td><td>%s</td>'
                     "<td>%s</td><td>%s</td><td>%d</td></tr>" % (
                         esc(entry["href"]), esc(entry["well"]), esc(entry["company"]),
                         esc(entry["field"]), fmt(entry["top"]), fmt(entry["bottom"]),
                         esc(", ".join(entry["curves"])), entry["rows"]))
    parts.append("</table></body></html>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------
# The timed step

def convert_file(path, out_dir, use_numpy):
    las = read_las(path, use_numpy)
    for curve in las.curves[1:]:
        if use_numpy:
            curve.summary = summarise_numpy(curve.values)
        else:
            curve.summary = summarise(curve.values)
            curve.points = profile_points(las, curve)
    if use_numpy:
        profile_points_numpy(las)
    las.every = max(1, las.rows // 200)
    href = las.name + ".html"
    with open(os.path.join(out_dir, href), "w", encoding="utf-8") as f:
        f.write(page(las))
    well = las.section("W")
    return {"href": href, "well": well.get("WELL"), "company": well.get("COMP"),
            "field": well.get("FLD"), "top": well.number("STRT"), "bottom": well.number("STOP"),
            "curves": [c.mnemonic for c in las.curves[1:]], "rows": las.rows}


def convert_all(data_dir, out_dir, use_numpy):
    names = sorted(n for n in os.listdir(data_dir) if n.endswith(".las"))
    entries = [convert_file(os.path.join(data_dir, n), out_dir, use_numpy) for n in names]
    with open(os.path.join(out_dir, "index.html"), "w", encoding="utf-8") as f:
        f.write(index_page(entries))
    return entries


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="about a third of the full size")
    parser.add_argument("--numpy", action="store_true", help="keep the curves in numpy arrays")
    parser.add_argument("--data", required=True, help="folder of the LAS inputs (made if absent)")
    parser.add_argument("--out", required=True, help="folder for the HTML pages")
    parser.add_argument("--generate-only", action="store_true",
                        help="make the inputs and stop, without converting")
    args = parser.parse_args(argv)
    if args.numpy:
        import numpy  # noqa: F401  (imported here so the timed step does not pay for it)
    make_inputs(args.data, args.quick, args.numpy)
    if args.generate_only:
        return 0
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    entries = convert_all(args.data, args.out, args.numpy)
    seconds = time.perf_counter() - start
    print("converted %d files, %d depth steps" % (len(entries), sum(e["rows"] for e in entries)))
    print("WORKLOAD_SECONDS %.6f" % seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
