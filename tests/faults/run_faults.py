#!/usr/bin/python3
"""
run_faults.py - fault injection on every write path (`make test-faults`).

For each op the syscall seam and the SQLite VFS shim count (open write
fsync fdatasync ftruncate rename link unlink mkdir sqlite), the driver runs
the reference scenario of fault_scenario.py once with RELAIS_FAULT=count to
learn how many calls of each op a run makes, then runs it again with the
Nth call failing, for N = 1..count (every N, or every stride-th N when an
op makes more than --max-per-op calls; the stride is printed), with each
errno of --errnos (EIO and ENOSPC). Each run checks what fault_scenario.py
describes: 4xx and never 250 for what is not stored, a clean stop (or a
clean exit by itself), no sanitizer report, and after a restart without
the fault every acknowledged message delivered, local ones exactly once.
Then, per op and errno, --persistent runs where every call from the Nth on
fails (a disk that stays full or broken until the restart).

    tests/faults/run_faults.py [--bin build/san/relais] [--jobs 2]
        [--ops write,fsync] [--errnos EIO,ENOSPC] [--max-per-op 50]
        [--persistent 4]
        [--json build/faults/results.json]

Directories of failing runs (and of runs with a relay duplicate or a
stalled message) are kept under build/faults/runs/ (their logs
are relais.0.log for the faulty run, relais.1.log for the restart).
Exit status 0 when every run passed.
"""

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=str(REPO / "build" / "san" / "relais"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--ops", default=None, help="comma-separated ops")
    ap.add_argument("--errnos", default="EIO,ENOSPC")
    ap.add_argument("--max-per-op", type=int, default=50,
                    help="runs per op and errno at most (stride above)")
    ap.add_argument("--persistent", type=int, default=4,
                    help="per op and errno, this many runs where every call"
                    " from the Nth on fails (times=0; N spread over the"
                    " calls)")
    ap.add_argument("--json", default=str(REPO / "build" / "faults" /
                                          "results.json"))
    ap.add_argument("--workdir", default=str(REPO / "build" / "faults" /
                                             "runs"))
    args = ap.parse_args()

    os.environ["RELAIS_BIN"] = str(Path(args.bin).resolve())
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import fault_scenario as fs         # puts tests/integration on the path
    import conftest

    ops = args.ops.split(",") if args.ops else fs.OPS
    errnos = args.errnos.split(",")
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()

    def one(plan, name):
        s = fs.Scenario(work / name, plan)
        try:
            out = s.run()
        except Exception as e:          # the harness itself broke
            out = fs.Outcome(plan)
            out.problems.append(f"driver error: {e!r}")
        if out.ok and not out.relay_dups and not out.stalled:
            s.cleanup()
        return out

    try:
        ref = one("count", "count")
        print(f"reference run: {ref.summary()}", flush=True)
        if not ref.ok or any(c != 250 for c in ref.replies.values()):
            print("the reference scenario itself fails; stopping")
            return 1
        counts = ref.counts
        print("calls per op in the reference run: " + " ".join(
            f"{k}={counts.get(k, 0)}" for k in fs.OPS + fs.SQLITE_KINDS),
            flush=True)

        plans = []
        strides = {}
        for op in ops:
            n = counts.get(op, 0)
            stride = max(1, math.ceil(n / args.max_per_op)) if n else 1
            strides[op] = stride
            for e in errnos:
                for k in range(1, n + 1, stride):
                    plans.append((op, e, k, 1))
                # persistent: the disk stays broken (full) from call k on
                for k in sorted({1 + i * n // args.persistent
                                 for i in range(args.persistent if n else 0)}):
                    plans.append((op, e, k, 0))
        print(f"{len(plans)} runs, {args.jobs} at a time; strides: " +
              " ".join(f"{op}={s}" for op, s in strides.items()), flush=True)

        results = []
        done = [0]

        def task(p):
            op, e, k, times = p
            plan = f"op={op},nth={k},errno={e}" + \
                (",times=0" if times == 0 else "")
            out = one(plan, f"{op}-{e}-{k}-{times}")
            done[0] += 1
            if not out.ok or done[0] % 25 == 0:
                print(f"[{done[0]}/{len(plans)} "
                      f"{time.monotonic() - t0:.0f}s] {out.summary()}",
                      flush=True)
            return p, out

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
            results = list(ex.map(task, plans))
    finally:
        if conftest._DNS is not None:
            conftest._DNS.stop()

    # tally per op and errno
    rows = {}
    for (op, e, k, times), out in results:
        mode = "once" if times == 1 else "from N on"
        r = rows.setdefault((op, e, mode), {
            "runs": 0, "fired": 0, "acked": 0, "refused_4xx": 0,
            "cut": 0, "stored_unacked": 0, "stalled": 0, "relay_dups": 0,
            "exited_by_itself": 0, "failed": 0, "problems": []})
        r["runs"] += 1
        r["fired"] += out.injected > 0
        for c in out.replies.values():
            if c == 250:
                r["acked"] += 1
            elif isinstance(c, int) and 400 <= c < 500:
                r["refused_4xx"] += 1
            else:
                r["cut"] += 1
        r["stored_unacked"] += len(out.stored_unacked)
        r["stalled"] += len(out.stalled)
        r["relay_dups"] += out.relay_dups
        r["exited_by_itself"] += (not out.started) or \
            (out.fault_exit not in (0, None))
        if not out.ok:
            r["failed"] += 1
            r["problems"].append(out.summary())

    elapsed = time.monotonic() - t0
    print()
    print("| op | errno | fails | calls | stride | runs | fired | 250 | 4xx |"
          " cut | stored w/o 250 | stalled | relay dups | daemon exited |"
          " failed |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (op, e, mode), r in rows.items():
        print(f"| {op} | {e} | {mode} | {counts.get(op, 0)} |"
              f" {strides[op] if mode == 'once' else '-'} |"
              f" {r['runs']} | {r['fired']} | {r['acked']} |"
              f" {r['refused_4xx']} | {r['cut']} | {r['stored_unacked']} |"
              f" {r['stalled']} |"
              f" {r['relay_dups']} | {r['exited_by_itself']} |"
              f" {r['failed']} |")
    total = sum(r["runs"] for r in rows.values())
    failed = sum(r["failed"] for r in rows.values())
    print(f"\n{total} runs in {elapsed:.0f}s, {failed} failed")
    for r in rows.values():
        for p in r["problems"]:
            print("FAILED " + p)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({
        "reference_counts": counts, "strides": strides,
        "elapsed_s": round(elapsed), "runs": total, "failed": failed,
        "rows": [dict(op=op, errno=e, mode=m, **r)
                 for (op, e, m), r in rows.items()],
    }, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
