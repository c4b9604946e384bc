#!/usr/bin/env bash
# On demand (not CI): a file of SIZE MiB (default 1024) up to SeaweedFS and back through our S3 client with
# `vectorstream bench s3`: byte-identical (SHA-256), MB/s each way, and the process's peak RSS (VmHWM) against its
# RSS just before the upload. Fails unless identical and the peak stays under 100 MB above idle.
# CI runs the same at 64 MiB (Tests/IntegrationTests/S3, benchS3At64MiBIsIdenticalWithBoundedMemory).
#
#   benchmarks/s3/large-file.sh [SIZE_MIB] [extra bench s3 options, e.g. --concurrency 4 --part-size-mib 16]
#
# Needs about 2 x SIZE of free space in $TMPDIR (the file and its download) and SIZE under .run/seaweedfs.
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE=${1:-1024}
shift || true
BIN=${VECTORSTREAM_BIN:-.build/release/vectorstream}
[[ -x "$BIN" ]] || swift build -c release --product vectorstream
scripts/services/seaweedfs.sh start >/dev/null
while IFS= read -r line; do export "${line?}"; done < <(scripts/services/seaweedfs.sh env)
export VECTORSTREAM_S3_BUCKET=${VECTORSTREAM_S3_BUCKET:-vectorstream-bench}
echo "machine: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
result=$("$BIN" bench s3 --size-mib "$SIZE" --json "$@")
echo "$result"
python3 - "$result" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"{r['size_mib']} MiB in {r['parts']} parts: up {r['upload_mb_per_s']} MB/s, down {r['download_mb_per_s']} MB/s, "
      f"identical={r['identical']}, peak RSS {r['peak_rss_mb']} MB = {r['peak_above_idle_mb']} MB above idle", file=sys.stderr)
sys.exit(0 if r["identical"] and r["peak_above_idle_mb"] < 100 else 1)
PY
# The peer, in the same run: boto3 (AWS's Python SDK, its defaults: 8 MiB parts, 10 threads) moving a file of the
# same size through the same server. Skipped without boto3 or with VECTORSTREAM_S3_NO_PEER=1.
if [[ -z "${VECTORSTREAM_S3_NO_PEER:-}" ]] && python3 -c "import boto3" 2>/dev/null; then
    python3 - "$SIZE" <<'PY'
import boto3, os, resource, sys, tempfile, time
size = int(sys.argv[1]) << 20
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"): return int(line.split()[1]) * 1024
s3 = boto3.client("s3", endpoint_url=os.environ["VECTORSTREAM_S3_ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id=os.environ["VECTORSTREAM_S3_ACCESS_KEY_ID"],
                  aws_secret_access_key=os.environ["VECTORSTREAM_S3_SECRET_ACCESS_KEY"])
bucket = os.environ["VECTORSTREAM_S3_BUCKET"]
with tempfile.TemporaryDirectory() as d:
    src, dst = os.path.join(d, "src.bin"), os.path.join(d, "dst.bin")
    with open(src, "wb") as f:
        for _ in range(size >> 20): f.write(os.urandom(1 << 20))
    idle = rss("VmRSS")
    t = time.monotonic(); s3.upload_file(src, bucket, "bench/boto3.bin"); up = time.monotonic() - t
    t = time.monotonic(); s3.download_file(bucket, "bench/boto3.bin", dst); down = time.monotonic() - t
    peak = rss("VmHWM")
    s3.delete_object(Bucket=bucket, Key="bench/boto3.bin")
    mb = size / 1e6
    print(f'{{"peer":"boto3 {boto3.__version__}","upload_mb_per_s":{mb/up:.3f},"download_mb_per_s":{mb/down:.3f},'
          f'"idle_rss_mb":{idle/1e6:.3f},"peak_rss_mb":{peak/1e6:.3f},"peak_above_idle_mb":{(peak-idle)/1e6:.3f}}}')
PY
fi
