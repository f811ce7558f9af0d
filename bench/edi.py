"""X12 reading speed and memory: our streaming reader + envelope check vs node-x12 (npm).

Both parse the same generated file (one interchange of 850s, >= 1M segments) as a stream,
in 64 KiB reads, in their own process: ours `read_file` (every segment split into its
elements with its byte offset and index, every transaction set assembled and
envelope-checked), the peer node-x12's `X12Parser` Transform stream (every segment split
into an X12Segment of X12Elements with line/column ranges, emitted one by one; no envelope
check). Figures: segments/s (wall clock from the first read to the last item, best of
ROUNDS, ours and the peer's runs interleaved so both meet the same load on a shared
machine), and peak RSS on a file of 1M and one of 2M segments: the ratio shows whether
memory stays flat as the file grows.

Peak RSS is the process's own high-water mark (VmHWM in /proc/self/status): getrusage's
ru_maxrss is not, on Linux a child started by fork and exec starts from its parent's RSS
(the benchmark's own, ~45 MB), which hid ours below the parent's figure.

node-x12 is installed with npm into a temporary folder (never into the repository); without
node/npm the peer rows are reported as missing rather than invented.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import report, result

SEGMENTS = 1_000_000
ROUNDS = 5
NODE_X12_VERSION = "1.7.1"

_SET = [
    "BEG*00*SA*PO{n}**20260101", "REF*DP*038", "DTM*002*20260114",
    "N1*ST*XYZ RETAIL*9*0003947268292", "N3*31875 SOLON RD", "N4*SOLON*OH*44139",
    *(f"PO1*{i}*120*EA*9.25*TE*CB*065322-117*PR*RO*VN*AB3542~PID*F****SMALL WIDGET"
      for i in range(1, 7)),
    "CTT*6",
]

_OURS = """
import resource, sys, time
from pathlib import Path
from connectors.edi_x12 import read_file

def peak_rss_kib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

started = time.perf_counter()
segments = 0
accepted = 0
for result in read_file(Path(sys.argv[1])):
    if result.transaction_set is not None:
        segments += len(result.transaction_set.segments)
        accepted += result.accepted
elapsed = time.perf_counter() - started
print(segments, accepted, elapsed, peak_rss_kib())
"""

_PEER = """
const fs = require('fs');
const { X12Parser } = require('node-x12');
function peakRssKib() {
  try {
    const line = fs.readFileSync('/proc/self/status', 'utf8').split('\\n')
      .find((l) => l.startsWith('VmHWM:'));
    if (line) return parseInt(line.split(/\\s+/)[1], 10);
  } catch (e) { /* not Linux */ }
  return process.resourceUsage().maxRSS;
}
const started = process.hrtime.bigint();
let segments = 0;
fs.createReadStream(process.argv[2])
  .pipe(new X12Parser())
  .on('data', () => { segments += 1; })
  .on('end', () => {
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    console.log(segments, 0, elapsed, peakRssKib());
  });
"""


def generate(path: Path, segments: int) -> int:
    """An interchange of 850s with at least `segments` segments; returns the exact count."""
    per_set = len("~".join(_SET).split("~")) + 2  # + ST and SE
    sets = -(-(segments - 5) // per_set)
    with path.open("w", encoding="ascii") as out:
        out.write("ISA*00*          *00*          *ZZ*BENCHSENDER    *ZZ*BENCHRECEIVER  *"
                  "260101*1200*U*00401*000000001*0*P*>~\n")
        out.write("GS*PO*BENCHSENDER*BENCHRECEIVER*20260101*1200*1*X*004010~\n")
        for n in range(1, sets + 1):
            body = "~\n".join(_SET).replace("{n}", str(n))
            out.write(f"ST*850*{n:04d}~\n{body}~\nSE*{per_set}*{n:04d}~\n")
        out.write(f"GE*{sets}*1~\nIEA*1*000000001~\n")
    return sets * per_set + 4


def _measure(command: list[str], cwd: Path | None = None) -> tuple[int, float, int]:
    """(segments, seconds, peak RSS KiB) printed by a parser run in its own process."""
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=cwd)
    segments, _, seconds, peak = done.stdout.split()
    return int(segments), float(seconds), int(peak)


def _median(runs: list[tuple[int, float, int]]) -> float:
    """Median seconds of the runs."""
    return statistics.median(seconds for _, seconds, _ in runs)


def _install_peer(folder: Path) -> bool:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return False
    subprocess.run(["npm", "init", "-y"], cwd=folder, capture_output=True, check=True)
    installed = subprocess.run(
        ["npm", "install", f"node-x12@{NODE_X12_VERSION}", "--no-audit", "--no-fund"],
        cwd=folder, capture_output=True)
    (folder / "peer.js").write_text(_PEER)
    return installed.returncode == 0


def run() -> list[dict[str, Any]]:
    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="bench-edi-") as temp:
        folder = Path(temp)
        small, large = folder / "1m.edi", folder / "2m.edi"
        small_count = generate(small, SEGMENTS)
        generate(large, 2 * SEGMENTS)
        ours = [sys.executable, "-c", _OURS]
        peer = ["node", "peer.js"] if _install_peer(folder) else None
        our_runs: list[tuple[int, float, int]] = []
        peer_runs: list[tuple[int, float, int]] = []
        for _ in range(ROUNDS):  # interleaved: a load spike on the machine hits both
            our_runs.append(_measure([*ours, str(small)], repo))
            if peer is not None:
                peer_runs.append(_measure([*peer, str(small)], folder))
        assert all(r[0] == small_count - 4 for r in our_runs), our_runs  # ST..SE segments
        our_rate = max(small_count / seconds for _, seconds, _ in our_runs)
        our_small_rss = min(peak for _, _, peak in our_runs)
        our_large_rss = _measure([*ours, str(large)], repo)[2]
        rows = [result("edi read: segments/s (ours vs node-x12)", our_rate, 0.0, 1.0,
                       "segments/s", "node-x12 (not installed)")]
        memory_row = result("edi read: peak RSS 2M / 1M segments (ours)",
                            our_large_rss / our_small_rss, 1.0, 1.0, "ratio", "flat (1.0)")
        # Lower is better for memory: "met" when growing the file grew memory by < 10 %.
        memory_row["met"] = our_large_rss / our_small_rss < 1.10
        memory_row["peak_rss_kib_1m"] = our_small_rss
        memory_row["peak_rss_kib_2m"] = our_large_rss
        if peer is not None:
            peer_rate = max(small_count / seconds for _, seconds, _ in peer_runs)
            peer_small_rss = min(peak for _, _, peak in peer_runs)
            peer_large_rss = _measure([*peer, str(large)], folder)[2]
            rows = [result("edi read: segments/s (ours vs node-x12)", our_rate, peer_rate, 1.0,
                           "segments/s", f"node-x12 {NODE_X12_VERSION}")]
            memory_row["peer_peak_rss_kib_1m"] = peer_small_rss
            memory_row["peer_peak_rss_kib_2m"] = peer_large_rss
            memory_row["peer_segments_counted"] = peer_runs[0][0]
            # The best run is the headline; the medians show it is not a lucky one.
            rows[0]["median_segments_per_s"] = round(small_count / _median(our_runs), 1)
            rows[0]["peer_median_segments_per_s"] = round(small_count / _median(peer_runs), 1)
        rows.append(memory_row)
        rows[0]["segments"] = small_count
        return rows


if __name__ == "__main__":
    rows = run()
    report(rows)
    print(json.dumps(rows, indent=1))
