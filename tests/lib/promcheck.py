#!/usr/bin/env python3
"""Strict checker for the Prometheus text exposition format 0.0.4, as ckptd writes it.

  promcheck.py check FILE                 exit 0 and print "ok N samples", or print every
                                          violation (one per line) and exit 1
  promcheck.py value FILE NAME [L=V ...]  the sum of the samples named NAME whose labels include
                                          every L=V (0 when none match); exit 1 if FILE is invalid
  promcheck.py series FILE NAME           every label set of NAME, one JSON object per line

Grammar (https://prometheus.io/docs/instrumenting/exposition_formats/, text format 0.0.4),
plus ckptd's own rules, marked (ckptd):
  - the text is UTF-8 and ends with a newline; no empty lines (ckptd: the format ignores them);
  - '# HELP NAME TEXT' (escapes \\\\ and \\n only) and '# TYPE NAME TYPE' appear at most once per
    family, before any of its samples; (ckptd) every family has both; other '#' lines are
    comments;
  - a sample is NAME[{LABEL="VALUE",...}] VALUE [TIMESTAMP]; NAME matches
    [a-zA-Z_:][a-zA-Z0-9_:]*, LABEL [a-zA-Z_][a-zA-Z0-9_]* and does not start with '__'; VALUE
    escapes are \\\\, \\" and \\n; a label appears once per sample; VALUE is a Go float (NaN,
    +Inf, -Inf included); TIMESTAMP an integer;
  - the samples of a family are contiguous; no two samples share a name and label set;
  - counter samples are >= 0 (ckptd: names end in _total); histograms have NAME_bucket with an
    'le' label, NAME_sum and NAME_count per label set; buckets in increasing le, cumulative
    (non-decreasing), the last one le="+Inf", equal to NAME_count;
  - (ckptd) every metric name starts with ckptd_.
"""
import json
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
NAME_RE = re.compile(NAME + r"\Z")
FLOAT_RE = re.compile(r"(?:[+-]?(?:Inf|inf)|NaN|[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\Z")
INT_RE = re.compile(r"-?\d+\Z")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_float(s):
    if not FLOAT_RE.match(s):
        raise ValueError("value %r is not a float" % s)
    return float(s.replace("Inf", "inf"))


def parse_labels(text, pos):
    """Parse '{a="b",...}' starting at text[pos] == '{'. Returns (dict, position after '}')."""
    labels = {}
    i = pos + 1
    while True:
        if i < len(text) and text[i] == "}":
            return labels, i + 1
        m = re.compile(LABEL).match(text, i)
        if not m:
            raise ValueError("bad label name at column %d" % (i + 1))
        lname = m.group(0)
        if lname.startswith("__"):
            raise ValueError("label name %r is reserved" % lname)
        if lname in labels:
            raise ValueError("label %r repeated" % lname)
        i = m.end()
        if text[i:i + 2] != '="':
            raise ValueError("expected '=\"' after label %r" % lname)
        i += 2
        value = []
        while True:
            if i >= len(text):
                raise ValueError("unterminated label value")
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt == "\\":
                    value.append("\\")
                elif nxt == '"':
                    value.append('"')
                elif nxt == "n":
                    value.append("\n")
                else:
                    raise ValueError("bad escape \\%s in label value" % nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ValueError("raw newline in label value")
            else:
                value.append(c)
                i += 1
        labels[lname] = "".join(value)
        if i < len(text) and text[i] == ",":
            i += 1
            if i < len(text) and text[i] == "}":  # a trailing comma is allowed
                return labels, i + 1
        elif i < len(text) and text[i] == "}":
            return labels, i + 1
        else:
            raise ValueError("expected ',' or '}' after a label value")


def help_escapes_ok(text):
    """HELP text may escape only backslash and newline."""
    i = 0
    while i < len(text):
        if text[i] == "\\":
            if text[i + 1:i + 2] not in ("\\", "n"):
                return False
            i += 2
        else:
            i += 1
    return True


def family_of(name, types):
    """The family a sample name belongs to: histogram/summary suffixes map to their base."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            if types.get(base) in ("histogram", "summary"):
                return base
    return name


def check(text):
    """Returns (errors, samples); samples is a list of (name, labels dict, value)."""
    errors = []
    samples = []
    helps, types = {}, {}
    seen_series = set()
    finished = set()  # families whose samples have ended
    current = None
    if not text.endswith("\n"):
        errors.append("the text does not end with a newline")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for no, line in enumerate(lines, 1):
        where = "line %d: " % no
        if line == "":
            errors.append(where + "empty line")
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 3 or not NAME_RE.match(parts[2]):
                    errors.append(where + "# %s without a valid metric name" % parts[1])
                    continue
                fam = parts[2]
                rest = parts[3] if len(parts) > 3 else ""
                if fam in finished or (current == fam):
                    errors.append(where + "# %s for %s after its samples" % (parts[1], fam))
                if parts[1] == "HELP":
                    if fam in helps:
                        errors.append(where + "second # HELP for " + fam)
                    if not help_escapes_ok(rest):
                        errors.append(where + "bad escape in HELP text")
                    helps[fam] = rest
                else:
                    if fam in types:
                        errors.append(where + "second # TYPE for " + fam)
                    if rest not in TYPES:
                        errors.append(where + "unknown type %r" % rest)
                    types[fam] = rest
            continue
        m = re.compile(NAME).match(line)
        if not m:
            errors.append(where + "no valid metric name at the start: %r" % line[:80])
            continue
        name = m.group(0)
        i = m.end()
        labels = {}
        try:
            if i < len(line) and line[i] == "{":
                labels, i = parse_labels(line, i)
            if i >= len(line) or line[i] != " ":
                raise ValueError("expected one space before the value")
            fields = line[i + 1:].split(" ")
            if len(fields) not in (1, 2) or "" in fields:
                raise ValueError("expected VALUE [TIMESTAMP] after the labels")
            value = parse_float(fields[0])
            if len(fields) == 2 and not INT_RE.match(fields[1]):
                raise ValueError("timestamp %r is not an integer" % fields[1])
        except ValueError as e:
            errors.append(where + str(e))
            continue
        fam = family_of(name, types)
        if fam != current:
            if current is not None:
                finished.add(current)
            if fam in finished:
                errors.append(where + "samples of %s are not contiguous" % fam)
            current = fam
        if fam not in types or fam not in helps:
            errors.append(where + "%s has no # HELP and # TYPE before its samples" % fam)
        if not fam.startswith("ckptd_"):
            errors.append(where + "%s does not start with ckptd_" % fam)
        key = (name, tuple(sorted(labels.items())))
        if key in seen_series:
            errors.append(where + "duplicate series %s%s" % (name, labels))
        seen_series.add(key)
        t = types.get(fam)
        if t == "counter":
            if not name.endswith("_total"):
                errors.append(where + "counter %s does not end in _total" % name)
            if not value >= 0:
                errors.append(where + "counter %s is negative or NaN" % name)
        if t == "histogram":
            if name == fam + "_bucket" and "le" not in labels:
                errors.append(where + "bucket without an le label")
            if name == fam:
                errors.append(where + "histogram sample without _bucket/_sum/_count")
        samples.append((name, labels, value))
    errors.extend(check_histograms(samples, types))
    return errors, samples


def check_histograms(samples, types):
    errors = []
    for fam, t in types.items():
        if t != "histogram":
            continue
        groups = {}
        for name, labels, value in samples:
            if name not in (fam + "_bucket", fam + "_sum", fam + "_count"):
                continue
            rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
            if name.endswith("_bucket"):
                try:
                    le = parse_float(labels.get("le", ""))
                except ValueError:
                    errors.append("%s%s: le %r is not a float" % (fam, dict(rest), labels.get("le")))
                    continue
                g["buckets"].append((le, value))
            elif name.endswith("_sum"):
                g["sum"] = value
            else:
                g["count"] = value
        for rest, g in groups.items():
            what = "%s%s" % (fam, dict(rest))
            b = g["buckets"]
            if not b:
                errors.append(what + ": no buckets")
                continue
            les = [le for le, _ in b]
            if any(not (les[k] < les[k + 1]) for k in range(len(les) - 1)):
                errors.append(what + ": bucket bounds not in increasing order")
            if any(b[k][1] > b[k + 1][1] for k in range(len(b) - 1)):
                errors.append(what + ": bucket counts not cumulative (they decrease)")
            if not math.isinf(les[-1]) or les[-1] < 0:
                errors.append(what + ': the last bucket is not le="+Inf"')
            if g["count"] is None or g["sum"] is None:
                errors.append(what + ": _count or _sum missing")
            elif b[-1][1] != g["count"]:
                errors.append(what + ": +Inf bucket %g != _count %g" % (b[-1][1], g["count"]))
    return errors


def main(argv):
    if len(argv) < 3 or argv[1] not in ("check", "value", "series"):
        sys.stderr.write(__doc__)
        return 2
    with open(argv[2], "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        print("not UTF-8: %s" % e)
        return 1
    errors, samples = check(text)
    if argv[1] == "check":
        if errors:
            for e in errors:
                print(e)
            return 1
        print("ok %d samples" % len(samples))
        return 0
    if errors:
        print("invalid exposition: %s" % errors[0])
        return 1
    name = argv[3]
    if argv[1] == "series":
        for n, labels, _ in samples:
            if n == name:
                print(json.dumps(labels, sort_keys=True))
        return 0
    want = dict(a.split("=", 1) for a in argv[4:])
    total = 0.0
    for n, labels, value in samples:
        if n == name and all(labels.get(k) == v for k, v in want.items()):
            total += value
    print("%d" % total if total == int(total) else repr(total))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
