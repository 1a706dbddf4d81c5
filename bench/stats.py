# SPDX-License-Identifier: MIT OR Apache-2.0
"""Order statistics and table rendering for the benchmark.

Only the standard library: the bench must run on a bare Debian with
python3. Nothing here measures anything; bench.py does.
"""

import math


def percentile(values, p):
    """Percentile p (0..100) with linear interpolation between ranks, as
    numpy's default does; None for no data."""
    if not values:
        return None
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    rank = (len(s) - 1) * p / 100.0
    lo = math.floor(rank)
    hi = math.ceil(rank)
    return s[lo] + (s[hi] - s[lo]) * (rank - lo)


def median(values):
    return percentile(values, 50)


def summary(values):
    """p50/p95/p99/max/min/n of a sample; all None when it is empty."""
    return {
        "n": len(values),
        "min": min(values) if values else None,
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
    }


def ratio(a, b):
    """a / b, or None when either side is missing or b is not positive."""
    if a is None or b is None or b <= 0:
        return None
    return a / b


def fmt_ms(seconds, digits=2):
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.{digits}f}"


def fmt_s(seconds, digits=3):
    if seconds is None:
        return "-"
    return f"{seconds:.{digits}f}"


def fmt_ratio(r):
    if r is None:
        return "-"
    return f"{r:.2f}x"


def table(headers, rows, markdown=False, left=1):
    """Renders rows (lists of strings) under headers: the first `left`
    columns left-aligned, the rest (numbers) right-aligned. Markdown output
    is a pipe table."""
    cols = len(headers)
    rows = [[str(c) for c in r] + [""] * (cols - len(r)) for r in rows]
    widths = [max(len(headers[i]), *(len(r[i]) for r in rows)) if rows else len(headers[i]) for i in range(cols)]

    def line(cells):
        out = []
        for i, c in enumerate(cells):
            out.append(c.ljust(widths[i]) if i < left else c.rjust(widths[i]))
        return ("| " + " | ".join(out) + " |") if markdown else "  ".join(out)

    lines = [line(headers)]
    if markdown:
        lines.append("|" + "|".join(("-" * (w + 1) + ":") if i >= left else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|")
    else:
        lines.append("  ".join("-" * w for w in widths))
    lines.extend(line(r) for r in rows)
    return "\n".join(lines)


def _check(got, want):
    assert got == want, f"{got!r} != {want!r}"


def _self_test():
    _check(percentile([], 50), None)
    _check(percentile([3.0], 99), 3.0)
    _check(median([4, 1, 3, 2]), 2.5)
    _check(percentile([1, 2, 3, 4, 5], 95), 4.8)
    _check(percentile([5, 1, 4, 2, 3], 0), 1)
    _check(percentile([5, 1, 4, 2, 3], 100), 5)
    _check(ratio(1.0, 0.0), None)
    _check(ratio(None, 2.0), None)
    _check(ratio(1.0, 4.0), 0.25)
    _check(fmt_ms(0.0012345), "1.23")
    _check(fmt_ratio(None), "-")
    _check(table(["a", "b"], [["x", "1"], ["yy", "22"]]), "a    b\n--  --\nx    1\nyy  22")
    _check(table(["a", "b"], [["x", "1"]], markdown=True), "| a | b |\n|---|--:|\n| x | 1 |")
    _check(table(["a", "b"], [["x", "1"], ["y", "22"]], left=2), "a  b \n-  --\nx  1 \ny  22")
    print("stats.py: 14 passed, 0 failed")


if __name__ == "__main__":
    _self_test()
