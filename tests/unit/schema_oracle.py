#!/usr/bin/python3
"""schema_oracle: check df_schema against an independent JSON Schema validator.

For each contract in schemas/ (task, event, connector, pipeline):
  - the schema itself must pass Draft202012Validator.check_schema;
  - every example under schemas/examples/{valid,invalid}/<name>/ must get the
    verdict of its folder from the oracle (python3-jsonschema), and an invalid
    example must break exactly one rule (one oracle error) whose location is
    a prefix of the path in its .expect file;
  - df-schema-check (the C validator, from $DF_BUILD_DIR/tools/) must give the
    oracle's verdict for every example.
Prints one line per disagreement and a summary; exits non-zero on any
disagreement, or when nothing was compared.

Run by tests/unit/schema_oracle_test.sh with DF_SOURCE_DIR and DF_BUILD_DIR set.
"""
import glob
import json
import os
import subprocess
import sys

try:
    from jsonschema import Draft202012Validator
except ImportError:
    print("python3-jsonschema (>= 4, with Draft202012Validator) is missing: "
          "run deploy/local/install-deps", file=sys.stderr)
    sys.exit(2)

CONTRACTS = ("task", "event", "connector", "pipeline")


def pointer(path):
    """A jsonschema error path (deque of keys and indexes) as a JSON Pointer."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def run_tool(tool, schema_path, files):
    """Verdicts of df-schema-check: {file: (verdict, path, message)}."""
    proc = subprocess.run([tool, schema_path] + files, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"df-schema-check exited {proc.returncode}: {proc.stderr.strip()}")
    verdicts = {}
    for line in proc.stdout.splitlines():
        fields = line.split("\t")
        verdicts[fields[0]] = (fields[1], fields[2] if len(fields) > 2 else "",
                               fields[3] if len(fields) > 3 else "")
    return verdicts


def main():
    source = os.environ.get("DF_SOURCE_DIR") or os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    build = os.environ.get("DF_BUILD_DIR")
    if not build:
        print("DF_BUILD_DIR is not set (the build directory holding tools/df-schema-check)",
              file=sys.stderr)
        return 2
    tool = os.path.join(build, "tools", "df-schema-check")
    if not os.access(tool, os.X_OK):
        print(f"{tool} not found: build the tree first", file=sys.stderr)
        return 2

    problems = []
    compared = 0
    for name in CONTRACTS:
        schema_path = os.path.join(source, "schemas", f"{name}.v1.schema.json")
        with open(schema_path, encoding="utf-8") as f:
            schema = json.load(f)
        try:
            Draft202012Validator.check_schema(schema)
        except Exception as e:  # SchemaError: say which schema and why
            problems.append(f"{schema_path}: not a valid draft 2020-12 schema: {e}")
            continue
        oracle = Draft202012Validator(schema)

        files = []
        for verdict in ("valid", "invalid"):
            pattern = os.path.join(source, "schemas", "examples", verdict, name, "*.json")
            files += [(path, verdict) for path in sorted(glob.glob(pattern))]
        if not files:
            problems.append(f"{name}: no examples found")
            continue
        tool_verdicts = run_tool(tool, schema_path, [path for path, _ in files])

        for path, folder_verdict in files:
            rel = os.path.relpath(path, source)
            with open(path, encoding="utf-8") as f:
                instance = json.load(f)
            errors = list(oracle.iter_errors(instance))
            oracle_verdict = "invalid" if errors else "valid"
            if oracle_verdict != folder_verdict:
                detail = "; ".join(f"{pointer(e.absolute_path) or '/'}: {e.message}"
                                   for e in errors[:3])
                problems.append(f"{rel}: the oracle says {oracle_verdict}, the folder says "
                                f"{folder_verdict} {detail}")
            if folder_verdict == "invalid" and errors:
                expect_path = path[:-len(".json")] + ".expect"
                expect = open(expect_path, encoding="utf-8").read().strip() \
                    if os.path.exists(expect_path) else None
                if expect is None:
                    problems.append(f"{rel}: no .expect file")
                elif len(errors) != 1:
                    problems.append(f"{rel}: breaks {len(errors)} rules, expected exactly one: "
                                    + "; ".join(e.message for e in errors[:3]))
                elif not expect.startswith(pointer(errors[0].absolute_path)):
                    problems.append(f"{rel}: the oracle's error is at "
                                    f"{pointer(errors[0].absolute_path)!r}, not a prefix of "
                                    f"the expected {expect!r}")
            got = tool_verdicts.get(path)
            if got is None:
                problems.append(f"{rel}: no verdict from df-schema-check")
                continue
            compared += 1
            if got[0] != oracle_verdict:
                why = f" ({got[1]}: {got[2]})" if got[0] == "invalid" else ""
                problems.append(f"{rel}: df_schema says {got[0]}{why}, the oracle says "
                                f"{oracle_verdict}")

    for p in problems:
        print(p)
    print(f"{compared} examples compared with the oracle, {len(problems)} problems")
    if compared == 0:
        print("no example was compared", file=sys.stderr)
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
