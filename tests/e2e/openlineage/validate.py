#!/usr/bin/env python3
"""Validate every OpenLineage event of EVENTS_FILE (one JSON per line)
against RunEvent of OpenLineage.json (2-0-2) with format checks, and each
errorMessage run facet against ErrorMessageRunFacet.json. Prints one line
per invalid event and "valid N" at the end; exit 1 when any is invalid."""
import json
import os
import sys

import jsonschema

here = os.path.dirname(os.path.abspath(__file__))
core = json.load(open(os.path.join(here, "OpenLineage.json")))
facet = json.load(open(os.path.join(here, "ErrorMessageRunFacet.json")))
store = {core["$id"]: core, facet["$id"]: facet}
checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
run_event = jsonschema.Draft202012Validator(
    {"$ref": core["$id"] + "#/$defs/RunEvent"},
    resolver=jsonschema.RefResolver(core["$id"], core, store=store), format_checker=checker)
error_facet = jsonschema.Draft202012Validator(
    {"$ref": facet["$id"] + "#/$defs/ErrorMessageRunFacet"},
    resolver=jsonschema.RefResolver(facet["$id"], facet, store=store), format_checker=checker)

bad = n = 0
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    n += 1
    ev = json.loads(line)
    problems = [e.message for e in run_event.iter_errors(ev)]
    err = ev.get("run", {}).get("facets", {}).get("errorMessage")
    if err is not None:
        problems += ["errorMessage: " + e.message for e in error_facet.iter_errors(err)]
    if problems:
        bad += 1
        print("invalid:", ev.get("eventType"), ev.get("run", {}).get("runId"), "; ".join(problems))
print("valid %d of %d" % (n - bad, n))
sys.exit(1 if bad or n == 0 else 0)
