#!/usr/bin/python3
"""cron_oracle: check df_cron's fire times against croniter.

Generates seeded random cron expressions (5 fields, 6 fields with seconds
first, macros) with random time zones and start times (two thirds of those in
zones that change offset shortly before a change), asks df_cron for the next 20
fire times of each (through $DF_BUILD_DIR/tools/df-cron-next, one process for
all cases) and croniter for the same, and compares them to the second.

The deliberate differences from croniter (docs/CRON.md, "Differences from
croniter") are handled by the rules below, each applied visibly and counted
in the summary; nothing else is excused:

  R1 equal-range   croniter reads a range whose ends are equal ("5-5",
                   "MON-MON") as the whole field; df_cron as that one value.
                   Such cases are not compared.
  R2 full-day      croniter treats a day-of-month or day-of-week field that
                   covers every value without being written "*" or "?"
                   ("1-31", "*/1", "SUN-SAT") as a restriction when the other
                   day field has no "*" in its text, so the OR of the two
                   matches every day; df_cron treats any field covering every
                   value as "*". Such cases are not compared.
  R3 repeat-once   after a fall-back, croniter fires a repeated wall-clock time
                   twice; df_cron fires it once (in the first pass) unless the
                   hour field covers all 24 hours. For those expressions, the
                   croniter times in the second pass (fold=1) are dropped.
  R4 gap-seconds   a slot skipped by a spring-forward: croniter moves it
                   forward by whole minutes to the first minute that exists,
                   keeping its seconds (02:15:30 -> 03:00:30); df_cron fires
                   at the instant of the jump (03:00:00). For expressions with
                   seconds other than 0 whose hour field does not cover all
                   hours, a croniter time within a minute after a jump that
                   is not itself a slot is taken to the jump.
  R5 odd-fall-back  croniter looks for second-pass times only from the wall
                   time one fall-back length before its last fire time, so
                   it misses some in a fall-back that is not a whole number
                   of hours starting on the hour (Lord Howe's 30 minutes; St
                   John's at 00:01 until 2011); it fires both passes of the
                   usual ones. For expressions whose hour field covers all
                   hours, both lists are compared only up to such a fall-back
                   (cron_test checks df_cron's times there).

Prints one line per disagreement (expression, zone, start, both lists) and a
summary ending "N passed, N failed"; exits 1 on any disagreement or when fewer
than MIN_COMPARED cases were compared.

Environment: DF_BUILD_DIR (required), CRON_ORACLE_SEED (default 20260329),
CRON_ORACLE_CASES (default 2500), CRON_ORACLE_SLOW=1 (name the cases croniter
takes more than a second for).
"""
import bisect
import datetime
import importlib.metadata
import os
import random
import subprocess
import sys
import time
import zoneinfo

import croniter as croniter_module
from croniter import croniter, CroniterBadDateError

CRONITER_VERSION = "7.0.0"
COUNT = 20
ASKED = COUNT + 5  # fire times asked of each side: room for R3 and R4
FOREVER = 1 << 62
MIN_COMPARED = 2000
UTC = datetime.timezone.utc

# UTC, zones with ordinary DST (both hemispheres), 30- and 45-minute offsets
# and DST steps, DST changes at midnight (Sao Paulo, Havana), a day skipped
# (Apia, 2011), a 2-hour DST step (Troll), negative DST (Dublin), and zones
# whose rules changed often (Casablanca, Gaza, Tehran, Moscow).
ZONES = [
    "", "UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Australia/Sydney",
    "Europe/Dublin", "America/Sao_Paulo", "America/Havana", "Pacific/Apia", "Antarctica/Troll",
    "Pacific/Chatham", "Asia/Kathmandu", "Australia/Adelaide", "America/St_Johns",
    "Africa/Casablanca", "Asia/Gaza", "Asia/Tehran", "Europe/Moscow", "America/Santiago",
    "Europe/London", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Kiritimati",
]
YEARS = (1975, 2080)

# field: (min, max of "*", names or None)
FIELDS = {
    "sec": (0, 59, None),
    "min": (0, 59, None),
    "hour": (0, 23, None),
    "dom": (1, 31, None),
    "mon": (1, 12, ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV",
                    "DEC"]),
    "dow": (0, 6, ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]),
}
MACROS = ["@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"]
MACRO_FIELDS = {
    "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


class Field:
    """One generated field: its text, the set of values it matches (as
    df_cron defines it, Sunday = 0), and whether it holds an equal-ended range."""

    def __init__(self, text, values, equal_range=False):
        self.text, self.values, self.equal_range = text, values, equal_range


def render(rng, name, v):
    lo, hi, names = FIELDS[name]
    if names and rng.random() < 0.3 and v < len(names) + lo:
        word = names[v - lo]
        return rng.choice([word, word.lower(), word.capitalize()])
    return str(v)


def gen_value(rng, name):
    lo, hi, _ = FIELDS[name]
    if name == "hour" and rng.random() < 0.5:
        return rng.choice([0, 1, 2, 3])  # where DST changes happen
    if name == "dom" and rng.random() < 0.2:
        return rng.choice([28, 29, 30, 31])
    return rng.randint(lo, hi)


def gen_item(rng, name):
    """(text, values, equal_range) of one list item."""
    lo, hi, _ = FIELDS[name]
    span = hi - lo + 1
    kind = rng.choices(["value", "range", "range_step", "start_step", "star_step"],
                       [40, 25, 10, 10, 15])[0]
    if kind == "star_step":
        step = rng.choice([2, 3, 4, 5, 6, 7, 10, 15, 20, 30, span])
        step = min(step, span)
        return "*/%d" % step, set(range(lo, hi + 1, step)), False
    if kind == "value":
        v = gen_value(rng, name)
        if name == "dow" and v == 0 and rng.random() < 0.3:
            return "7", {0}, False
        return render(rng, name, v), {v}, False
    if kind == "start_step":
        a = gen_value(rng, name)
        step = rng.randint(1, span)
        return "%s/%d" % (render(rng, name, a), step), set(range(a, hi + 1, step)), False
    a, b = sorted((gen_value(rng, name), gen_value(rng, name)))
    while a == b and rng.random() < 0.8:  # keep a few equal-ended ranges for R1
        a, b = sorted((gen_value(rng, name), rng.randint(lo, hi)))
    if name == "dow" and a > 0 and rng.random() < 0.15 and kind == "range":
        # a range ending on Sunday written 0 or SUN
        end = rng.choice(["0", "SUN", "sun"])
        return "%s-%s" % (render(rng, name, a), end), set(range(a, 7)) | {0}, False
    equal = a == b
    if kind == "range":
        return ("%s-%s" % (render(rng, name, a), render(rng, name, b)), set(range(a, b + 1)),
                equal)
    step = rng.randint(1, span)
    return ("%s-%s/%d" % (render(rng, name, a), render(rng, name, b), step),
            set(range(a, b + 1, step)), equal)


def gen_field(rng, name, star_weight):
    lo, hi, _ = FIELDS[name]
    if rng.random() < star_weight:
        if name in ("dom", "dow") and rng.random() < 0.1:
            return Field("?", set(range(lo, hi + 1)))
        return Field("*", set(range(lo, hi + 1)))
    items = [gen_item(rng, name) for _ in range(rng.choices([1, 2, 3], [70, 20, 10])[0])]
    values = set().union(*(i[1] for i in items))
    return Field(",".join(i[0] for i in items), values, any(i[2] for i in items))


def gen_expression(rng):
    """(text, {field: Field}, has_seconds)."""
    r = rng.random()
    if r < 0.08:
        macro = rng.choice(MACROS)
        text = rng.choice([macro, macro.upper()])
        parts = MACRO_FIELDS[macro].split()
        fields = {n: parse_plain(n, t) for n, t in zip(["min", "hour", "dom", "mon", "dow"], parts)}
        fields["sec"] = Field("0", {0})
        return text, fields, False
    six = r < 0.3
    fields = {
        "sec": gen_field(rng, "sec", 0.3) if six else Field("0", {0}),
        "min": gen_field(rng, "min", 0.25),
        "hour": gen_field(rng, "hour", 0.4),
        "dom": gen_field(rng, "dom", 0.7),
        "mon": gen_field(rng, "mon", 0.75),
        "dow": gen_field(rng, "dow", 0.7),
    }
    names = (["sec"] if six else []) + ["min", "hour", "dom", "mon", "dow"]
    return " ".join(fields[n].text for n in names), fields, six


def parse_plain(name, text):
    lo, hi, _ = FIELDS[name]
    return Field(text, set(range(lo, hi + 1)) if text == "*" else {int(text)})


def full(name, field):
    lo, hi, _ = FIELDS[name]
    return field.values >= set(range(lo, hi + 1))


def transitions(zone_name):
    """UTC instants (s) where the zone's offset changes within YEARS."""
    if not zone_name or zone_name == "UTC":
        return []
    z = zoneinfo.ZoneInfo(zone_name)

    def off(t):
        return datetime.datetime.fromtimestamp(t, z).utcoffset()

    out = []
    t = int(datetime.datetime(YEARS[0], 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime.datetime(YEARS[1], 12, 31, tzinfo=UTC).timestamp())
    prev = off(t)
    while t < end:
        nxt = t + 86400
        o = off(nxt)
        if o != prev:
            lo, hi = t, nxt  # offset changes in (lo, hi]
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if off(mid) == prev:
                    lo = mid
                else:
                    hi = mid
            out.append(hi)
            prev = o
        t = nxt
    return out


def gen_start(rng, trans, long_gaps):
    """A start time in ms: uniform over YEARS, or shortly before a transition.
    Never within two years before a jump of more than 3 hours (Apia skipped
    2011-12-30, Kiritimati 1994-12-31): croniter walks a skipped day minute
    by minute for every slot in it, which takes minutes for one case. df_cron
    on a skipped day is covered by cron_test (test_dst_other_zones)."""
    while True:
        if trans and rng.random() < 0.65:
            t = rng.choice(trans)  # the instant the offset changes
            back = rng.choice([3 * 86400, 6 * 3600, 40 * 60, 10 * 60, 90])
            s = t - rng.randint(1, back)
        else:
            a = int(datetime.datetime(YEARS[0], 1, 1, tzinfo=UTC).timestamp())
            b = int(datetime.datetime(YEARS[1], 1, 1, tzinfo=UTC).timestamp())
            s = rng.randint(a, b)
        if not any(0 <= g - s < 2 * 366 * 86400 for g in long_gaps):
            break
    r = rng.random()
    if r < 0.3:
        s -= s % 60  # on a whole minute: often a fire time itself
    elif r < 0.5:
        return s * 1000 + rng.randint(1, 999)
    return s * 1000


def second_pass(z, t):
    """How long the clock went back, in seconds, when instant t is in the
    second pass of wall-clock time repeated by a fall-back; else None."""
    local = datetime.datetime.fromtimestamp(t, z)
    if local.fold == 0:
        return None
    back = (local.replace(fold=0).utcoffset() - local.utcoffset()).total_seconds()
    return back if back > 0 else None


def odd_fall_backs(trans, zone_name):
    """R5: the fall-backs that are not a whole number of hours starting on
    the hour (as the wall clock shows it when it goes back)."""
    if not trans:
        return []
    z = zoneinfo.ZoneInfo(zone_name)
    out = []
    for t in trans:
        back = second_pass(z, t)
        wall = datetime.datetime.fromtimestamp(t, z)
        if back and (back % 3600 or wall.minute or wall.second):
            out.append(t)
    return out


def croniter_times(text, six, zone_name, start_ms, keep, limit):
    """croniter's next fire times (s) that keep() accepts, at most limit; how
    many it did not accept; whether it found no more before the limit."""
    z = zoneinfo.ZoneInfo(zone_name or "UTC")
    start = datetime.datetime.fromtimestamp(start_ms / 1000, z)
    it = croniter(text, start, ret_type=datetime.datetime, second_at_beginning=six)
    out, dropped = [], 0
    while len(out) < limit and dropped < 100000:
        try:
            d = it.get_next(datetime.datetime)
        except CroniterBadDateError:
            return out, dropped, True
        if keep(d):
            out.append(int(d.timestamp()))
        else:
            dropped += 1
    return out, dropped, False


def gap_jumps(trans, zone_name, least=0):
    """The transitions that move the clock forward by more than `least`
    seconds (spring-forward gaps)."""
    if not trans:
        return []
    z = zoneinfo.ZoneInfo(zone_name)
    return [t for t in trans
            if (datetime.datetime.fromtimestamp(t, z).utcoffset()
                - datetime.datetime.fromtimestamp(t - 1, z).utcoffset()).total_seconds() > least]


def local_matches(fields, d):
    """Does wall-clock time d (naive or aware) show a slot the fields name?
    Used only by R4, to tell a real slot from one croniter moved out of a gap."""
    dom_all, dow_all = full("dom", fields["dom"]), full("dow", fields["dow"])
    dom_ok = d.day in fields["dom"].values
    dow_ok = (d.isoweekday() % 7) in fields["dow"].values
    day_ok = dow_ok if dom_all else dom_ok if dow_all else (dom_ok or dow_ok)
    return (d.second in fields["sec"].values and d.minute in fields["min"].values
            and d.hour in fields["hour"].values and d.month in fields["mon"].values and day_ok)


def gap_has_slot(fields, z, jump):
    """Does the wall-clock time skipped by the jump at instant `jump` hold a slot?"""
    wall = datetime.datetime.fromtimestamp(jump - 1, z).replace(tzinfo=None)
    end = datetime.datetime.fromtimestamp(jump, z).replace(tzinfo=None)
    second = datetime.timedelta(seconds=1)
    wall += second
    while wall < end:
        if local_matches(fields, wall):
            return True
        wall += second
    return False


def rule_r4(fields, z, jumps, start_s, theirs):
    """R4: croniter's times moved out of a gap go to the jump itself. Returns
    the new list and how many times were moved."""
    out, moved = list(theirs), 0
    if not theirs:
        return out, 0
    first = bisect.bisect_right(jumps, start_s)
    for jump in jumps[first:]:
        if jump > theirs[-1]:
            break
        kept = [t for t in out if not (jump < t < jump + 60 and not local_matches(
            fields, datetime.datetime.fromtimestamp(t, z)))]
        moved += len(out) - len(kept)
        if gap_has_slot(fields, z, jump):
            kept.append(jump)
        out = sorted(set(kept))
    return out, moved


def main():
    build = os.environ.get("DF_BUILD_DIR")
    if not build:
        print("DF_BUILD_DIR is not set (the build directory holding tools/df-cron-next)",
              file=sys.stderr)
        return 2
    tool = os.path.join(build, "tools", "df-cron-next")
    if not os.access(tool, os.X_OK):
        print("%s is not built" % tool, file=sys.stderr)
        return 2
    version = importlib.metadata.version("croniter")
    if version != CRONITER_VERSION:
        print("croniter %s is required, found %s (%s)" % (CRONITER_VERSION, version,
                                                         croniter_module.__file__),
              file=sys.stderr)
        return 2
    seed = int(os.environ.get("CRON_ORACLE_SEED", "20260329"))
    ncases = int(os.environ.get("CRON_ORACLE_CASES", "2500"))
    rng = random.Random(seed)
    began = time.monotonic()

    trans = {z: transitions(z) for z in ZONES}
    jumps = {z: gap_jumps(trans[z], z) for z in ZONES}
    long_gaps = {z: gap_jumps(trans[z], z, 3 * 3600) for z in ZONES}
    odd_fold_starts = {z: odd_fall_backs(trans[z], z) for z in ZONES}
    cases = []
    for _ in range(ncases):
        text, fields, six = gen_expression(rng)
        zone = rng.choice(ZONES)
        cases.append((text, fields, six, zone, gen_start(rng, trans[zone], long_gaps[zone])))

    lines = "".join("%s\t%s\t%d\t%d\n" % (c[0], c[3], c[4], ASKED) for c in cases)
    proc = subprocess.run([tool], input=lines, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print("df-cron-next exited %d: %s" % (proc.returncode, proc.stderr.strip()),
              file=sys.stderr)
        return 1
    answers = proc.stdout.splitlines()
    if len(answers) != len(cases):
        print("df-cron-next answered %d of %d cases" % (len(answers), len(cases)), file=sys.stderr)
        return 1

    stats = {"compared": 0, "times": 0, "R1": 0, "R2": 0, "R3": 0, "R4": 0, "R5": 0, "dst": 0,
             "none": 0, "failed": 0}
    for (text, fields, six, zone, start_ms), answer in zip(cases, answers):
        if any(f.equal_range for f in fields.values()):
            stats["R1"] += 1
            continue
        dom, dow = fields["dom"], fields["dow"]
        if any(full(a, fa) and fa.text not in ("*", "?") and not full(b, fb) and "*" not in fb.text
               for a, fa, b, fb in (("dom", dom, "dow", dow), ("dow", dow, "dom", dom))):
            stats["R2"] += 1
            continue
        hour_all = full("hour", fields["hour"])
        z = zoneinfo.ZoneInfo(zone or "UTC")

        def keep(d):
            """R3: False for a time in the second pass of a repeated hour."""
            return hour_all or second_pass(z, int(d.timestamp())) is None

        odd_folds = odd_fold_starts[zone] if hour_all else []
        case_began = time.monotonic()
        try:
            theirs, dropped, exhausted = croniter_times(text, six, zone, start_ms, keep, ASKED)
        except Exception as exc:  # a croniter error on an expression df_cron accepts
            theirs, dropped, exhausted = "croniter: %s: %s" % (type(exc).__name__, exc), 0, True
        stats["R3"] += dropped
        if time.monotonic() - case_began > 1 and os.environ.get("CRON_ORACLE_SLOW"):
            print("SLOW %.1fs %r %r %d" % (time.monotonic() - case_began, text, zone, start_ms))
        kind, _, rest = answer.partition("\t")
        ours = [int(x) // 1000 for x in rest.split()] if kind == "ok" else "df_cron: " + rest
        if isinstance(ours, list) and isinstance(theirs, list):
            # Each list is complete up to its last time, or for ever when it
            # ran out; compare the first COUNT times where both are complete.
            ours_until = ours[-1] if len(ours) == ASKED else FOREVER
            theirs_until = theirs[-1] if not exhausted else FOREVER
            if six and not hour_all and fields["sec"].values != {0}:
                theirs, moved = rule_r4(fields, z, jumps[zone], start_ms // 1000, theirs)
                stats["R4"] += moved
            cut = next((t for t in odd_folds if t * 1000 > start_ms), FOREVER)
            if cut <= min(ours_until, theirs_until):
                stats["R5"] += 1
            until = min(ours_until, theirs_until, cut - 1)
            ours = [t for t in ours if t <= until][:COUNT]
            theirs = [t for t in theirs if t <= until][:COUNT]
            same = ours == theirs
        else:
            same = False
        stats["compared"] += 1
        if isinstance(ours, list):
            shown = ours[:COUNT]
            stats["times"] += len(shown)
            stats["none"] += exhausted
            k = bisect.bisect_right(trans[zone], shown[0] if shown else 0)
            if shown and k < len(trans[zone]) and trans[zone][k] <= shown[-1]:
                stats["dst"] += 1
        if not same:
            stats["failed"] += 1
            fmt = lambda v: v if isinstance(v, str) else " ".join(  # noqa: E731
                datetime.datetime.fromtimestamp(t, z).isoformat() for t in v)
            print("DISAGREE %r zone=%r start=%s (%d ms)\n  df_cron:  %s\n  croniter: %s" % (
                text, zone or "UTC", datetime.datetime.fromtimestamp(start_ms / 1000, z).isoformat(),
                start_ms, fmt(ours), fmt(theirs)))

    elapsed = time.monotonic() - began
    print("cron_oracle: seed %d, croniter %s, %d cases in %.1fs" % (seed, version, ncases, elapsed))
    print("  compared %d cases, %d fire times; %d cases crossed an offset change; "
          "%d stopped firing within the horizon" % (stats["compared"], stats["times"],
                                                    stats["dst"], stats["none"]))
    print("  rules: R1 equal-range skipped %d cases, R2 full-day skipped %d cases, "
          "R3 repeat-once dropped %d croniter times, R4 gap-seconds moved %d croniter times, "
          "R5 odd-fall-back cut %d cases short"
          % (stats["R1"], stats["R2"], stats["R3"], stats["R4"], stats["R5"]))
    print("  disagreements: %d" % stats["failed"])
    ok = (stats["failed"] == 0 and stats["compared"] >= MIN_COMPARED
          and stats["times"] >= MIN_COMPARED * COUNT * 3 // 4)
    if not ok and not stats["failed"]:
        print("  too little compared: %d cases and %d fire times, at least %d and %d required" % (
            stats["compared"], stats["times"], MIN_COMPARED, MIN_COMPARED * COUNT * 3 // 4))
    print("%d passed, %d failed" % (stats["compared"] - stats["failed"],
                                    stats["failed"] + (0 if ok or stats["failed"] else 1)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
