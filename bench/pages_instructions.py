"""Instructions per request of each member page, counted by callgrind (docs/benchmarks.md
"Member pages", "After issue 16 and 17"): unlike CPU time, the counts do not move with other
load on the machine, so two versions of the code can be compared on a shared machine.

    python -m bench.pages_instructions [-n 20] [--warm 20] [--lang sv] [--page points]

The same production settings, database and members as ``python -m bench.pages_profile``
(its ``BENCH_PAGES_*`` variables; run ``bench.pages_profile --prepare`` first). The script
runs itself under ``valgrind --tool=callgrind``; each page gets ``--warm`` requests, then the
counters are zeroed, ``-n`` requests made and the counters dumped (callgrind's client
requests, through a three-line C helper built with ``cc`` from valgrind's headers). The
collector is run and frozen before measuring, so that a full collection does not land in one
page's window. Prints millions of instructions per request for each page.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import pages as bench
from bench import pages_profile as profile

HELPER = """#include <valgrind/callgrind.h>
int kk_running(void) { return RUNNING_ON_VALGRIND; }
void kk_zero(void) { CALLGRIND_ZERO_STATS; }
void kk_dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
"""


def helper(folder: Path) -> ctypes.CDLL:
    source, library = folder / "kk_callgrind.c", folder / "kk_callgrind.so"
    if not library.exists():
        source.write_text(HELPER)
        subprocess.run(["cc", "-O1", "-shared", "-fPIC", "-o", library, source], check=True)
    return ctypes.CDLL(str(library))


def totals(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=20, help="measured requests per page")
    parser.add_argument("--warm", type=int, default=20, help="requests per page before")
    parser.add_argument("--lang", default="sv")
    parser.add_argument("--page", action="append", help="only these pages (name or path)")
    parser.add_argument("--out", help="callgrind's files (a temporary folder by default)")
    args = parser.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="pages-callgrind-"))
    out.mkdir(parents=True, exist_ok=True)
    library = helper(out)
    if not library.kk_running():
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.out"]
        command += [sys.executable, "-m", "bench.pages_instructions", *argv, "--out", str(out)]
        return subprocess.run(command, stderr=subprocess.DEVNULL, check=False).returncode

    bench.django_setup()
    from django.core.handlers.wsgi import WSGIHandler

    from members.models import Member

    member_ids = list(
        Member.objects.filter(user__isnull=False, erased_at__isnull=True)
        .filter(purchases__isnull=False)
        .distinct()
        .order_by("pk")
        .values_list("pk", flat=True)[: bench.MEMBERS]
    )
    keys = bench.sessions_create(member_ids)[:4]
    handler = WSGIHandler()
    pages = [("offline (anonymous)", "/offline/"), ("offline (logged in)", "/offline/")]
    pages += bench.PAGES
    if args.page:
        pages = [p for p in pages if p[0] in args.page or p[1] in args.page]

    def run(name: str, path: str, count: int) -> None:
        for i in range(count):
            key = None if name == "offline (anonymous)" else keys[i % len(keys)]
            profile.request(handler, path, key, args.lang)

    for name, path in pages:
        run(name, path, args.warm)
    gc.collect()
    gc.freeze()
    library.kk_zero()
    library.kk_dump(b"start")  # the helper's first call, outside every page
    print(f"{'page':<22} {'M instr.':>9}  (per request, {args.n} requests, {args.lang})")
    for number, (name, path) in enumerate(pages, start=2):
        gc.collect()
        library.kk_zero()
        run(name, path, args.n)
        library.kk_dump(name.encode())
        count = totals(out / f"cg.out.{number}")
        print(f"{name:<22} {count / args.n / 1e6:9.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
