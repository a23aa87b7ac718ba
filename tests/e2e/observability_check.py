#!/usr/bin/env python3
"""Checks of tests/e2e/observability_test.sh (standard library and PyYAML).

    labels FILE [--ids IDS_FILE] [--secrets SECRETS_FILE]
        FILE is one scrape of a program's /metrics. Fails when a label value
        looks like a task id (a ULID or a UUID anywhere in it), is one of
        the submitted task ids, or contains a secret (one a line of
        SECRETS_FILE: secrets stay off command lines); or when a
        metric has more than MAX_SERIES series (an unbounded label).

    promql PROMETHEUS_URL DASHBOARDS_DIR RULES_FILE
        Evaluates through Prometheus' HTTP API (/api/v1/query) every PromQL
        `expr` of the boards and every rule of the rules file:
          - a board expression and a recording rule must return at least
            one series with a number (not NaN);
          - an alert is evaluated twice: as written, the query must succeed
            (the fleet is healthy, so most alerts return nothing), and with
            its comparison thresholds removed ("x > 0.10" -> "x") it must
            return data: every metric and label value it reads exists.
        Prints every expression that fails, with the metrics it reads that
        have no series. Exit 1 when any fails.

    documented METRICS_MD FILE...
        Every metric of the scrapes (FILE: /metrics texts) is in the doc's
        tables as `name` | type |, with the type it is exported with.

    sql DASHBOARD_JSON DATABASE_URL
        Runs every `rawSql` of the board with psql; each must succeed and
        return at least one row.
"""
import glob
import json
import math
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request

MAX_SERIES = 200
ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+\S+(\s+\S+)?$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
# A comparison with a number on its right: "> 0.10", "== 1", "< 1", ">= 10".
THRESHOLD = re.compile(r"\s*(?:==|!=|>=|<=|>|<)\s*(?:bool\s+)?-?[0-9]+(?:\.[0-9]+)?(?![\w.\]])")
METRIC_NAME = re.compile(r"\b(datafleet[a-z0-9_:]*|up)\b")


def labels(path, ids_file, secrets):
    ids = set()
    if ids_file:
        with open(ids_file) as f:
            ids = {line.strip() for line in f if line.strip()}
    series = {}
    problems = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            m = SAMPLE.match(line)
            if not m:
                problems.append("cannot read the line: %s" % line[:200])
                continue
            name, body = m.group(1), m.group(2) or ""
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            pairs = LABEL.findall(body)
            series.setdefault(base, set()).add(
                tuple((k, v) for k, v in pairs if k != "le"))
            for key, value in pairs:
                where = "%s{%s=%r}" % (name, key, value)
                if ULID.search(value) or UUID.search(value):
                    problems.append("label value looks like a task id: " + where)
                if value in ids:
                    problems.append("label value is a submitted task id: " + where)
                for secret in secrets:
                    if secret and secret in value:
                        problems.append("label value holds a connector secret: %s{%s=...}" % (name, key))
    for name, keys in sorted(series.items()):
        if len(keys) > MAX_SERIES:
            problems.append("%s has %d series (at most %d expected: an unbounded label?)"
                            % (name, len(keys), MAX_SERIES))
    for p in problems:
        print("  " + p)
    print("  %d metrics, %d series, %d problems" % (
        len(series), sum(len(k) for k in series.values()), len(problems)))
    return 1 if problems else 0


def query(base, expr):
    """(status, error, result list) of an instant query at the current time."""
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            doc = json.load(resp)
    except urllib.error.HTTPError as e:  # 400/422: a bad expression
        try:
            doc = json.load(e)
        except ValueError:
            return "error", "HTTP %d" % e.code, []
    except OSError as e:
        return "error", str(e), []
    data = doc.get("data") or {}
    result = data.get("result") or []
    if data.get("resultType") == "scalar":
        result = [{"metric": {}, "value": result}]
    return doc.get("status"), doc.get("error", ""), result


def has_number(result):
    for r in result:
        try:
            if not math.isnan(float(r["value"][1])):
                return True
        except (KeyError, IndexError, TypeError, ValueError):
            pass
    return False


def missing_metrics(base, expr):
    names = sorted(set(METRIC_NAME.findall(expr)))
    gone = []
    for name in names:
        _, _, result = query(base, 'count({__name__="%s"})' % name)
        if not result:
            gone.append(name)
    return gone


def expressions(dashboards, rules_file):
    """(what, name, expr) of every board target and every rule."""
    import yaml  # python3-yaml

    out = []
    for path in sorted(glob.glob(os.path.join(dashboards, "*.json"))):
        with open(path) as f:
            board = json.load(f)
        for panel in board.get("panels", []):
            for t in panel.get("targets", []):
                if "expr" in t:
                    out.append(("board", "%s / %s [%s]" % (os.path.basename(path), panel["title"],
                                                          t.get("refId", "")), t["expr"]))
    with open(rules_file) as f:
        doc = yaml.safe_load(f)
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            if "record" in rule:
                out.append(("record", rule["record"], rule["expr"]))
            else:
                out.append(("alert", rule["alert"], rule["expr"]))
    return out


def promql(base, dashboards, rules_file):
    exprs = expressions(dashboards, rules_file)
    failed = 0
    for what, name, expr in exprs:
        flat = " ".join(expr.split())
        status, error, result = query(base, flat)
        why = None
        note = "%d series" % len(result)
        if status != "success":
            why = "query failed: %s" % error
        elif what == "alert":
            stripped = THRESHOLD.sub("", flat)
            s2, e2, r2 = query(base, stripped)
            if s2 != "success":
                why = "without thresholds, the query failed: %s (%s)" % (e2, stripped)
            elif not r2:
                why = "without thresholds, no data: %s" % stripped
                flat = stripped
            else:
                note = "%d series as written, %d without thresholds" % (len(result), len(r2))
        elif not result:
            why = "no data"
        elif not has_number(result):
            why = "only NaN (%d series): nothing changed in the window" % len(result)
        if why:
            failed += 1
            gone = missing_metrics(base, flat)
            print("  FAIL %s %s: %s\n       %s%s" % (
                what, name, why, flat, "\n       metrics with no series: " + ", ".join(gone) if gone else ""))
        else:
            print("  ok   %s %s (%s)" % (what, name, note))
    print("  %d expressions, %d without data" % (len(exprs), failed))
    return 1 if failed else 0


def documented(doc_file, files):
    with open(doc_file) as f:
        doc = f.read()
    rows = dict(re.findall(r"^\| `([a-z_:]+)` \| (counter|gauge|histogram) \|", doc, re.M))
    exported = {}
    for path in files:
        with open(path) as f:
            for line in f:
                m = re.match(r"# TYPE (\S+) (\S+)", line)
                if m:
                    exported[m.group(1)] = m.group(2)
    bad = 0
    for name, kind in sorted(exported.items()):
        if rows.get(name) != kind:
            bad += 1
            print("  %s (%s): %s" % (name, kind, "documented as %s" % rows[name] if name in rows
                                     else "not in %s" % os.path.basename(doc_file)))
    print("  %d metrics exported, %d documented, %d wrong or missing" % (len(exported), len(rows), bad))
    return 1 if bad or not exported else 0


def sql(board_file, database_url):
    with open(board_file) as f:
        board = json.load(f)
    failed = total = 0
    for panel in board.get("panels", []):
        for t in panel.get("targets", []):
            if "rawSql" not in t:
                continue
            total += 1
            p = subprocess.run(["psql", "-qtAX", "-v", "ON_ERROR_STOP=1", database_url, "-c", t["rawSql"]],
                               capture_output=True, text=True)
            rows = [r for r in p.stdout.splitlines() if r.strip()]
            if p.returncode != 0:
                failed += 1
                print("  FAIL %s: %s" % (panel["title"], p.stderr.strip()))
            elif not rows:
                failed += 1
                print("  FAIL %s: no rows" % panel["title"])
            else:
                print("  ok   %s (%d rows; first: %s)" % (panel["title"], len(rows), rows[0][:120]))
    print("  %d queries, %d failed" % (total, failed))
    return 1 if failed or not total else 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "labels":
        ids, secrets, i = None, [], 2
        while i < len(argv):
            if argv[i] == "--ids":
                ids = argv[i + 1]
            elif argv[i] == "--secrets":
                with open(argv[i + 1]) as f:
                    secrets += [line.strip() for line in f if len(line.strip()) >= 8]
            else:
                sys.exit("labels: unknown argument %s" % argv[i])
            i += 2
        return labels(argv[1], ids, secrets)
    if len(argv) == 4 and argv[0] == "promql":
        return promql(argv[1].rstrip("/"), argv[2], argv[3])
    if len(argv) >= 3 and argv[0] == "documented":
        return documented(argv[1], argv[2:])
    if len(argv) == 3 and argv[0] == "sql":
        return sql(argv[1], argv[2])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
