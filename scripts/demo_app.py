#!/usr/bin/env python3
"""demo_app: a small well-log processor, the workload of the pymemtrace demo.

It does what such programs do (pymemtrace was written for tools that turn LAS
well logs into HTML): read text records, turn each into a dict, summarise the
curves, pack them into one large binary frame buffer, free what is no longer
needed and write an HTML summary. The frame buffer (40 MiB, made by
allocate_frame_buffer) is the RSS jump the demo's analysis should point at.

Deterministic (no clock, no randomness), standard library only, Python 3.8+,
well under a second without tracing.

Usage: demo_app.py [OUTPUT_DIR]    (default: a new temporary folder)
"""

import html
import math
import os
import struct
import sys
import tempfile
import zlib

CURVES = ('DEPT', 'GR', 'RHOB', 'NPHI', 'DT')
UNITS = {'DEPT': 'm', 'GR': 'gAPI', 'RHOB': 'g/cm3', 'NPHI': 'v/v', 'DT': 'us/m'}
RECORD_COUNT = 20000
FRAME_BUFFER_BYTES = 40 * 1024 * 1024
FRAME = struct.Struct('<5f')


def generate_las_text(count):
    """The ~A section of a LAS file: one line of space-separated values per depth step."""
    lines = ['~A  ' + '  '.join(CURVES)]
    for i in range(count):
        depth = 1000.0 + 0.1524 * i
        gamma = 75.0 + 40.0 * math.sin(i / 150.0) + 5.0 * math.sin(i / 7.0)
        density = 2.45 + 0.15 * math.cos(i / 400.0)
        neutron = 0.25 - 0.08 * math.cos(i / 400.0)
        sonic = 280.0 + 30.0 * math.sin(i / 90.0)
        lines.append('%10.4f %9.3f %7.4f %7.4f %8.2f' % (depth, gamma, density, neutron, sonic))
    return '\n'.join(lines) + '\n'


def parse_records(text):
    """One dict per data line, keyed by curve mnemonic."""
    rows = text.splitlines()
    names = rows[0].split()[1:]
    records = []
    for row in rows[1:]:
        values = [float(v) for v in row.split()]
        records.append(dict(zip(names, values)))
    return records


def curve_statistics(records):
    """min, max and mean of every curve."""
    stats = {}
    for name in CURVES:
        column = [r[name] for r in records]
        stats[name] = (min(column), max(column), sum(column) / len(column))
    return stats


def allocate_frame_buffer(size):
    """The big allocation of this program, zero-filled. bytearray(n) is a type
    call, which gives a profile function no event of its own: the RSS jump shows
    at this function's RETURN."""
    return bytearray(size)


def build_frame_buffer(records):
    """Pack every record as a 20-byte frame, then tile the frames over one 40 MiB
    buffer, as a renderer's sample cache would."""
    frames = b''.join(FRAME.pack(*(r[name] for name in CURVES)) for r in records)
    buffer = allocate_frame_buffer(FRAME_BUFFER_BYTES)
    for offset in range(0, FRAME_BUFFER_BYTES - len(frames) + 1, len(frames)):
        buffer[offset:offset + len(frames)] = frames
    return buffer


def write_html_summary(out_dir, stats, record_count, checksum):
    rows = []
    for name in CURVES:
        low, high, mean = stats[name]
        rows.append('<tr><td>%s</td><td>%s</td><td>%.4f</td><td>%.4f</td><td>%.4f</td></tr>'
                    % (html.escape(name), html.escape(UNITS[name]), low, high, mean))
    page = '\n'.join([
        '<!DOCTYPE html>',
        '<html><head><meta charset="utf-8"><title>Well log summary</title></head><body>',
        '<h1>Well log summary</h1>',
        '<p>%d depth steps; frame buffer CRC-32 %08x.</p>' % (record_count, checksum),
        '<table><tr><th>Curve</th><th>Unit</th><th>Min</th><th>Max</th><th>Mean</th></tr>',
    ] + rows + ['</table>', '</body></html>', ''])
    path = os.path.join(out_dir, 'summary.html')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(page)
    return path


def main(argv):
    out_dir = argv[1] if len(argv) > 1 else tempfile.mkdtemp(prefix='pymemtrace-demo-html-')
    os.makedirs(out_dir, exist_ok=True)
    text = generate_las_text(RECORD_COUNT)
    records = parse_records(text)
    del text  # the raw text is not needed once parsed
    stats = curve_statistics(records)
    buffer = build_frame_buffer(records)
    checksum = zlib.crc32(buffer)
    del buffer  # freed: RSS should fall back here
    count = len(records)
    del records
    path = write_html_summary(out_dir, stats, count, checksum)
    print('demo_app: %d records, %d curves, frame buffer %d MiB (crc32 %08x); summary: %s'
          % (count, len(CURVES), FRAME_BUFFER_BYTES >> 20, checksum, path))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
