#!/usr/bin/env bash
# On demand (not in CI: minutes of embedding): a generated catalog CSV imported on the embedded stores, three times.
#   benchmarks/files/catalog-100k.sh [PRODUCTS]        default 100000; results under benchmarks/out/files/<time>/
# 1. `vectorstream generate --catalog-csv` writes PRODUCTS products plus ~1 % bad rows (each of a kind with a reason);
# 2. `vectorstream bench embed` measures the embedder alone on 2,000 of the same product texts (sentences/s), in the
#    same run, before and after the imports, so the import's products/s is read as a ratio to their mean (the
#    embedder is the limit);
# 3. import: every valid product embedded once, rejected rows counted by reason;
# 4. the same rows in other bytes (one more blank line): nothing embedded, seconds;
# 5. 1 % of the prices changed: only those records rewritten, no text embedded again.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-100000}
BIN=.build/release/vectorstream
[[ -x $BIN ]] || swift build -c release --product vectorstream
OUT=benchmarks/out/files/$(date -u +%Y%m%d%H%M%S)
mkdir -p "$OUT"
DATA=$(mktemp -d)
trap 'rm -rf "$DATA"' EXIT
$BIN generate --catalog-csv "$OUT/catalog.csv" --products "$N" --bad-rows-percent 1
python3 - "$OUT" <<'PY'
import csv, json, sys
out = sys.argv[1]
rows = list(csv.reader(open(f"{out}/catalog.csv", newline="", encoding="utf-8")))
header, body = rows[0], rows[1:]
with open(f"{out}/corpus.jsonl", "w") as f:
    n = 0
    for r in body:
        if len(r) == 5 and r[1] and n < 2000:
            f.write(json.dumps({"text": f"{r[1]}. {r[3]}. {r[2]}"}) + "\n"); n += 1
# Same rows, other bytes.
open(f"{out}/catalog-again.csv", "w", newline="", encoding="utf-8").write(open(f"{out}/catalog.csv", encoding="utf-8", newline="").read() + "\r\n")
# 1 % of the valid rows with a new price.
w = csv.writer(open(f"{out}/repriced.csv", "w", newline="", encoding="utf-8"), lineterminator="\r\n")
w.writerow(header)
changed = 0
for i, r in enumerate(body):
    if i % 100 == 0 and len(r) == 5:
        try:
            r[4] = str(round(float(r[4]) + 1, 2)); changed += 1
        except ValueError:
            pass
    w.writerow(r)
print(f"repriced rows: {changed}", file=sys.stderr)
PY
echo "embedder alone (bench embed, 2,000 product texts)" >&2
$BIN bench embed --corpus "$OUT/corpus.jsonl" | tail -1 > "$OUT/embed.json"
for step in catalog catalog-again repriced; do
    echo "import $step.csv" >&2
    /usr/bin/time -v $BIN import "$OUT/$step.csv" --data-dir "$DATA" --json > "$OUT/$step.json" 2> "$OUT/$step.log" || true
    tail -n 12 "$OUT/$step.log" | grep -v "^\s" >&2 || true
done
echo "embedder alone again, after the imports" >&2
$BIN bench embed --corpus "$OUT/corpus.jsonl" | tail -1 > "$OUT/embed-after.json"
python3 - "$OUT" "$N" <<'PY' | tee "$OUT/summary.json"
import json, re, subprocess, sys
out, n = sys.argv[1], int(sys.argv[2])
def embed_rate(name):
    embed = json.loads(open(f"{out}/{name}").read())
    return next((embed[k] for k in ("sentences_per_second", "sentencesPerSecond", "sentences_per_s") if k in embed), None)
before, after = embed_rate("embed.json"), embed_rate("embed-after.json")
rate = (before + after) / 2 if before and after else before or after  # the embedder alone, before and after the imports
def load(step):
    rec = json.loads(open(f"{out}/{step}.json").read().strip().splitlines()[-1])
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(f"{out}/{step}.log").read())
    return rec, int(rss.group(1)) // 1024 if rss else None
first, rss1 = load("catalog"); again, _ = load("catalog-again"); priced, _ = load("repriced")
c = first["counts"]
pps = c["rows_accepted"] / (first["duration_ms"] / 1000)
cpu = subprocess.run(["sh", "-c", "lscpu | grep 'Model name' | sed 's/.*: *//'"], capture_output=True, text=True).stdout.strip()
print(json.dumps({
    "machine": cpu, "products": n,
    "first": {"rows": c["rows_total"], "accepted": c["rows_accepted"], "rejected": c["rows_rejected"],
              "rejected_by_code": first["rejected_by_code"], "embedded": c["products_embedded"],
              "seconds": first["duration_ms"] / 1000, "products_per_second": round(pps, 1), "peak_rss_mb": rss1},
    "embedder_sentences_per_second": rate, "embedder_before_after": [before, after],
    "import_vs_embedder": round(pps / rate, 3) if rate else None,
    "unchanged": {"embedded": again["counts"]["products_embedded"], "unchanged": again["counts"]["products_unchanged"],
                  "seconds": again["duration_ms"] / 1000},
    "repriced": {"embedded": priced["counts"]["products_embedded"], "rewritten": priced["counts"]["products_payload_updated"],
                 "seconds": priced["duration_ms"] / 1000},
}, indent=1))
PY
