#!/usr/bin/env bash
# kiln vs PyTorch on this machine's CPU, in one go: builds examples/bench, runs it and
# ../shared/bench/pytorch_reference.py at each thread count, and prints kiln/PyTorch ratios.
#
# Usage: scripts/bench_vs_pytorch.sh [--threads "1 2"] [--reps 5] [--warmup 2]
#                                    [--cases train_step,infer,augment,probe_epoch]
#                                    [--jpeg-dir DIR] [--out DIR] [--cargo-features F]
#                                    [-- extra bench args]
#
# * PyTorch side: Debian's CPU PyTorch (`apt-get install -y python3-torchvision`, run with
#   /usr/bin/python3). Without it only the kiln side runs (ratios left empty).
# * --jpeg-dir: JPEGs for `augment`; default: 512 made by make_jpeg_folder.py (needs Pillow,
#   which comes with python3-torchvision, or `apt-get install -y python3-pil`).
# * Threads: kiln gets RAYON_NUM_THREADS=t, PyTorch `--threads t` (torch.set_num_threads).
#   PyTorch's augment is one single-threaded process whatever t is, so the augment ratio is
#   also given per core (kiln images/s ÷ t vs PyTorch images/s).
# * --cargo-features: extra features for `cargo build --example bench`, e.g.
#   "burn/rayon,burn/simd" (multi-threaded, SIMD burn-flex; see docs/benchmarks.md); recorded
#   as "cargo_features" in every kiln line.
# * Output: $OUT/kiln.jsonl, $OUT/pytorch.jsonl, $OUT/table.md (default target/bench/<time>).
# Timings are noisy while other builds run: before each side the script waits (QUIET_WAIT
# seconds, default 600) for the CPUs to go idle, then warns if they did not.
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS="1 2"
REPS=5
WARMUP=2
CASES=train_step,infer,augment,probe_epoch
JPEG_DIR=""
OUT="target/bench/$(date +%Y%m%d-%H%M%S)"
SHARED="${KILN_SHARED:-../shared}"
PY=/usr/bin/python3
EXTRA=()
CARGO_FEATURES=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) THREADS="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --cases) CASES="$2"; shift 2 ;;
    --jpeg-dir) JPEG_DIR="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --cargo-features) CARGO_FEATURES="$2"; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"

HAVE_TORCH=0
if "$PY" -c 'import torch, torchvision' 2>/dev/null; then
  HAVE_TORCH=1
else
  echo "PyTorch not importable by $PY: kiln side only (apt-get install -y python3-torchvision)" >&2
fi

if [[ ",$CASES," == *",augment,"* && -z "$JPEG_DIR" ]]; then
  JPEG_DIR="$OUT/jpegs"
  if [[ ! -d "$JPEG_DIR" ]]; then
    "$PY" "$SHARED/bench/make_jpeg_folder.py" "$JPEG_DIR" 512 >&2
  fi
fi

feature_args=()
TAG=""  # sed program tagging kiln lines with the extra features
if [[ -n "$CARGO_FEATURES" ]]; then
  feature_args=(--features "$CARGO_FEATURES")
  TAG="s|^{|{\"cargo_features\":\"$CARGO_FEATURES\",|"
fi
cargo build --release --example bench "${feature_args[@]}" >&2
BENCH=target/release/examples/bench

# PyTorch knows train_step, infer and augment only.
PT_CASES=$(echo "$CASES" | tr ',' '\n' | grep -E '^(train_step|infer|augment)$' | paste -sd, || true)

# Waits (up to $QUIET_WAIT s) until the CPUs are nearly idle: other builds or test runs on a
# shared machine skew every figure. Busy share is sampled from /proc/stat over 2 s.
QUIET_WAIT="${QUIET_WAIT:-600}"
cpu_busy_pct() {
  local a b
  a=($(head -1 /proc/stat)); sleep 2; b=($(head -1 /proc/stat))
  local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
  echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}
quiet_check() {
  local waited=0 busy
  while :; do
    busy=$(cpu_busy_pct)
    if [[ $busy -le 10 ]]; then return; fi
    if [[ $waited -ge $QUIET_WAIT ]]; then
      echo "warning: CPUs ${busy}% busy with other work after ${waited}s: figures will be noisy" >&2
      return
    fi
    echo "CPUs ${busy}% busy with other work; waiting..." >&2
    sleep 10; waited=$((waited + 12))
  done
}

# Share of the machine's CPU time used by other processes while one side ran (from /proc/stat,
# minus this script's children): printed after each side, and in table.md.
HZ=$(getconf CLK_TCK)
cpu_of_times() {  # user+sys seconds of finished children, from a saved `times` output
  tail -1 "$1" | awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); s += p[1] * 60 + p[2] } print s }'
}
# `times` must run in this shell (not in $(...), a subshell with no children of its own).
side_begin() { S0=($(head -1 /proc/stat)); { times; } > "$OUT/.times0"; }
side_end() {  # $1: label
  local S1 C0 C1
  S1=($(head -1 /proc/stat)); { times; } > "$OUT/.times1"
  C0=$(cpu_of_times "$OUT/.times0"); C1=$(cpu_of_times "$OUT/.times1")
  awk -v label="$1" -v hz="$HZ" -v c0="$C0" -v c1="$C1" \
    -v a="${S0[*]}" -v b="${S1[*]}" 'BEGIN {
      split(a, x, " "); split(b, y, " "); tot = 0
      for (i = 2; i <= 9; i++) tot += y[i] - x[i]
      idle = (y[5] + y[6]) - (x[5] + x[6])
      other = (tot - idle) - (c1 - c0) * hz
      pct = tot > 0 ? 100 * other / tot : 0; if (pct < 0) pct = 0
      printf "{\"side\": \"%s\", \"other_cpu_pct\": %.1f}\n", label, pct
    }' | tee -a "$OUT/load.jsonl" >&2
}

: > "$OUT/load.jsonl"
: > "$OUT/kiln.jsonl"
: > "$OUT/pytorch.jsonl"
for t in $THREADS; do
  quiet_check
  echo "== kiln, RAYON_NUM_THREADS=$t" >&2
  jpeg_args=()
  [[ -n "$JPEG_DIR" ]] && jpeg_args=(--jpeg-dir "$JPEG_DIR")
  side_begin
  RAYON_NUM_THREADS=$t "$BENCH" --cases "$CASES" --reps "$REPS" --warmup "$WARMUP" \
    "${jpeg_args[@]}" "${EXTRA[@]}" | sed "$TAG" | tee -a "$OUT/kiln.jsonl"
  side_end "kiln threads=$t"
  if [[ $HAVE_TORCH == 1 && -n "$PT_CASES" ]]; then
    quiet_check
    echo "== PyTorch, --threads $t" >&2
    side_begin
    "$PY" "$SHARED/bench/pytorch_reference.py" --threads "$t" --cases "$PT_CASES" \
      "${jpeg_args[@]}" | sed 's/^{/{"reps": 5, "warmup": 2, /' | tee -a "$OUT/pytorch.jsonl"
    side_end "pytorch threads=$t"
  fi
done

"$PY" - "$OUT" <<'EOF' | tee "$OUT/table.md"
import json, sys
out = sys.argv[1]
def load(name):
    rows = []
    for line in open(f"{out}/{name}"):
        line = line.strip()
        if line.startswith("{"):
            rows.append(json.loads(line))
    return rows
kiln, pt = load("kiln.jsonl"), load("pytorch.jsonl")
def key(r):
    return (r["case"], r.get("arch", ""), r.get("batch", ""), r.get("size", ""), r["threads"])
ptk = {key(r): r for r in pt}
print("| case | arch | batch@size | threads | kiln img/s | PyTorch img/s | kiln/PyTorch | kiln peak RSS MB | other CPU % (kiln case / PyTorch side) |")
print("|---|---|---|---|---:|---:|---:|---:|---:|")
busy = {r["side"]: r["other_cpu_pct"] for r in load("load.jsonl")}
for r in kiln:
    if "error" in r:
        print(f"| {r['case']} | {r.get('arch') or ''} | | | error | | | | |")
        continue
    case = r["case"]
    feats = f" [{r['cargo_features']}]" if r.get("cargo_features") else ""
    arch = (r.get("arch") or "") + feats
    shape = f"{r['batch']}@{r['size']}" if "batch" in r and "size" in r else ""
    if case == "probe_epoch":
        label = "probe_epoch (cached)" if r.get("cache") else "probe_epoch (uncached)"
        extra = f" ×{r['speedup_vs_uncached']} vs uncached" if "speedup_vs_uncached" in r else ""
        print(f"| {label} | {arch} | {shape} | {r['threads']} | {r['images_per_s']}{extra} | – | – | {r.get('peak_rss_mb')} | {r.get('other_cpu_pct')} |")
        continue
    p = ptk.get((r["case"], r.get("arch", ""), r.get("batch", ""), r.get("size", ""), r["threads"]))
    if r["case"] == "augment":
        # PyTorch's augment runs one single-threaded process whatever --threads says.
        p = next((x for x in pt if x["case"] == "augment"), p)
    pv = p["images_per_s"] if p else None
    ratio = f"{r['images_per_s'] / pv:.2f}" if pv else "–"
    if r["case"] == "augment" and pv:
        ratio += f" (per core {r['per_core_images_per_s'] / pv:.2f})"
    side = busy.get(f"pytorch threads={r['threads']}", "–")
    print(f"| {case} | {arch} | {shape} | {r['threads']} | {r['images_per_s']} | {pv if pv else '–'} | {ratio} | {r.get('peak_rss_mb')} | {r.get('other_cpu_pct')} / {side} |")
EOF
echo "raw figures: $OUT/kiln.jsonl $OUT/pytorch.jsonl" >&2
