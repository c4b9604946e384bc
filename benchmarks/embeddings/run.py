#!/usr/bin/env python3
"""Embedding benchmark: vectorstream (native Swift) vs sentence-transformers vs onnxruntime fp32.

Same corpus, same model files, same thread count, one engine per child process (so peak RSS is each
engine's own), all in one run. Prints sentences/s, peak RSS and cosine to sentence-transformers.

    benchmarks/embeddings/run.sh            # sets up the venv, builds the release binary, runs this
"""
import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "../.."))

# ---------------------------------------------------------------- corpus

BRANDS = ["Acme", "Nimbus", "Cobalt", "Vertex", "Orchid", "Summit", "Harbor", "Lumen", "Aurora", "Pioneer",
          "Kestrel", "Maple & Co.", "Zenith", "Borealis", "Quill"]
TIERS = ["", "Premium", "Deluxe", "Pro", "Ultra", "Essential", "Travel-Size", "Compact", "Classic", "Smart"]
PRODUCTS = {
    "Electronics": ["Wireless Earbuds", "Bluetooth Speaker", "USB-C Charger", "4K Monitor", "Mechanical Keyboard",
                    "Noise-Cancelling Headphones", "Smartwatch", "Portable SSD", "Webcam", "Action Camera"],
    "Home & Kitchen": ["Chef's Knife", "Dutch Oven", "Espresso Machine", "Air Fryer", "Bamboo Cutting Board",
                       "Memory Foam Pillow", "Stand Mixer", "Cast Iron Skillet", "Electric Kettle", "Rice Cooker"],
    "Grocery": ["Organic Green Tea", "Dark Roast Coffee", "Almond Butter", "Protein Bars", "Olive Oil",
                "Dark Chocolate", "Granola", "Matcha Powder", "Sea Salt", "Maple Syrup"],
    "Sports": ["Yoga Mat", "Running Shoes", "2-Person Tent", "Hiking Backpack", "Water Bottle", "Resistance Bands",
               "Cycling Helmet", "Trekking Poles", "Foam Roller", "Jump Rope"],
    "Toys": ["STEM Robot Kit", "Wooden Train Set", "Building Blocks", "Puzzle", "Plush Bear", "RC Car",
             "Art Set", "Board Game", "Kite", "Science Kit"],
    "Automotive": ["OBD2 Scanner", "Dash Cam", "Jump Starter", "Tire Inflator", "Car Vacuum", "Phone Mount",
                   "Seat Cushion", "LED Headlights", "Wiper Blades", "Trunk Organizer"],
}
COLORS = ["black", "white", "navy", "burgundy", "sand", "forest green", "rose gold", "slate grey", "sky blue",
          "charcoal", "ivory", "crimson"]
FEATURES = ["fast charging", "a 30-hour battery life", "loop recording", "water resistance", "a non-slip base",
            "an ergonomic handle", "dishwasher-safe parts", "a 2000 A peak current", "universal fit",
            "20 g of protein per serving", "single-origin beans", "RFID blocking", "a lifetime warranty",
            "voice control", "foldable design", "recycled materials", "BPA-free plastic", "USB-C charging"]
USES = ["rainy days and classrooms", "weekend trips", "busy mornings", "small apartments", "the pantry",
        "long commutes", "home offices", "outdoor adventures", "gift giving", "beginners and pros"]
MATERIALS = ["stainless steel", "bamboo", "aluminum", "organic cotton", "tempered glass", "silicone",
             "full-grain leather", "recycled polyester", "cast iron", "Arabica"]


def sentence(rng, category, name):
    kind = rng.randrange(9)
    if kind == 0:
        return f"Available in {rng.choice(COLORS)}, {rng.choice(COLORS)} and {rng.choice(COLORS)}."
    if kind == 1:
        return f"Includes {rng.choice(FEATURES)}, plus a {rng.randint(1, 5)}-year warranty."
    if kind == 2:
        return f"Features {rng.choice(FEATURES)} and {rng.choice(FEATURES)}."
    if kind == 3:
        return f"Ideal for {rng.choice(USES)}."
    if kind == 4:
        return f"Ships free in {rng.randint(1, 5)} days; {rng.randint(14, 90)}-day returns."
    if kind == 5:
        return (f"{category}: The {rng.choice(MATERIALS)} construction offers {rng.choice(FEATURES)} "
                f"for {rng.choice(USES)}.")
    if kind == 6:
        return (f"Dimensions: {rng.randint(5, 80)} x {rng.randint(5, 60)} x {rng.randint(2, 30)} cm; "
                f"weight {rng.randint(50, 9000)} g.")
    if kind == 7:
        return f"Rated {rng.randint(35, 50) / 10:.1f}/5 by {rng.randint(12, 9000)} customers."
    return f"Price: ${rng.randint(5, 900)}.{rng.randint(0, 99):02d} — save {rng.randint(5, 60)}% today."


def make_corpus(n, seed, tokenizer, min_tokens=20, max_tokens=80):
    """Deterministic product texts whose token count ([CLS]/[SEP] included) lies in [min_tokens, max_tokens]."""
    rng = random.Random(seed)
    texts = []
    while len(texts) < n:
        category = rng.choice(sorted(PRODUCTS))
        tier = rng.choice(TIERS)
        name = " ".join(p for p in [rng.choice(BRANDS), tier, rng.choice(PRODUCTS[category])] if p)
        target = rng.randint(min_tokens, max_tokens)
        text = name + "." if rng.random() < 0.5 else f"{name}, {rng.choice(COLORS).title()}."
        while True:
            candidate = text + " " + sentence(rng, category, name)
            length = len(tokenizer(candidate)["input_ids"])
            if length > target:
                break
            text = candidate
        length = len(tokenizer(text)["input_ids"])
        if min_tokens <= length <= max_tokens:
            texts.append(text)
    return texts


# ---------------------------------------------------------------- engines (each runs in its own process)

def peak_rss_mb():
    """This process's own peak RSS. VmHWM, not ru_maxrss: after fork+exec Linux carries the parent's
    ru_maxrss over into the child, so a child of a big parent would report the parent's peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_sentence_transformers(args, texts):
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(args.model_dir, device="cpu")
    model.max_seq_length = 256
    model.encode(texts[:64], batch_size=args.batch_size, normalize_embeddings=True)
    start = time.perf_counter()
    vectors = model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True)
    seconds = time.perf_counter() - start
    np.save(args.vectors, vectors.astype(np.float32))
    return seconds


def export_onnx(model_dir, path):
    """The BERT encoder (no pooling) as an fp32 ONNX graph with dynamic batch and sequence axes."""
    import torch
    from transformers import AutoModel

    class Encoder(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    model = Encoder(AutoModel.from_pretrained(model_dir, attn_implementation="eager")).eval()
    ids = torch.ones((2, 16), dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    types = torch.zeros((2, 16), dtype=torch.long)
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
            "token_type_ids": {0: "batch", 1: "seq"}, "last_hidden_state": {0: "batch", 1: "seq"}}
    with torch.no_grad():
        torch.onnx.export(model, (ids, mask, types), path, dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state"], dynamic_axes=axes)


def run_onnxruntime(args, texts):
    import numpy as np
    import onnxruntime as ort
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(args.onnx, options, providers=["CPUExecutionProvider"])

    def encode(batch_texts):
        # Sorted by length and batched, as sentence-transformers does, so both pad equally little.
        order = sorted(range(len(batch_texts)), key=lambda i: -len(batch_texts[i]))
        out = np.zeros((len(batch_texts), 384), dtype=np.float32)
        for s in range(0, len(order), args.batch_size):
            idx = order[s:s + args.batch_size]
            enc = tokenizer([batch_texts[i] for i in idx], padding=True, truncation=True, max_length=256,
                            return_tensors="np")
            feeds = {"input_ids": enc["input_ids"].astype(np.int64),
                     "attention_mask": enc["attention_mask"].astype(np.int64),
                     "token_type_ids": enc["token_type_ids"].astype(np.int64)}
            hidden = session.run(["last_hidden_state"], feeds)[0]
            mask = enc["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[idx] = pooled
        return out

    encode(texts[:64])
    start = time.perf_counter()
    vectors = encode(texts)
    seconds = time.perf_counter() - start
    np.save(args.vectors, vectors)
    return seconds


def child(args):
    if args.engine == "export-onnx":
        export_onnx(args.model_dir, args.onnx)
        return
    with open(args.corpus, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    seconds = {"sentence-transformers": run_sentence_transformers, "onnxruntime": run_onnxruntime}[args.engine](args, texts)
    print(json.dumps({"engine": args.engine, "sentences": len(texts), "seconds": seconds,
                      "sentences_per_second": len(texts) / seconds, "peak_rss_mb": peak_rss_mb()}))


# ---------------------------------------------------------------- driver

def run_child(command, env=None):
    """Runs one engine; returns its last JSON line (figures measured by the engine's process itself)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    output = process.stdout.read()
    status = process.wait()
    if status != 0:
        sys.stdout.write(output)
        raise SystemExit(f"failed ({status}): {' '.join(command)}")
    result = json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
    for line in output.splitlines():
        if not line.startswith("{"):
            print("    " + line)
    return result


def cosines(a, b):
    import numpy as np
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--vectors", help=argparse.SUPPRESS)
    parser.add_argument("--onnx", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", default=os.environ.get("VECTORSTREAM_MODEL_DIR", os.path.join(ROOT, ".vendor/model")))
    parser.add_argument("--corpus", help="corpus JSON lines (generated when absent)")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks/out/embeddings"))
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds over all engines, interleaved; each engine's median rate is reported")
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/vectorstream"))
    parser.add_argument("--engines", default=None,
                        help="comma-separated; default: vectorstream, vectorstream-blas, vectorstream-bf16 (where the CPU has "
                             "AVX-512 BF16), onnxruntime, sentence-transformers")
    args = parser.parse_args()
    if args.engine:
        return child(args)
    if args.engines is None:
        with open("/proc/cpuinfo") as f:
            bf16 = "avx512_bf16" in f.read()
        args.engines = ",".join(["vectorstream", "vectorstream-blas"] + (["vectorstream-bf16"] if bf16 else [])
                                + ["onnxruntime", "sentence-transformers"])

    import numpy as np
    os.makedirs(args.out, exist_ok=True)
    model_dir = os.path.realpath(args.model_dir)
    corpus = args.corpus or os.path.join(args.out, f"corpus-{args.n}-{args.seed}.jsonl")
    if not os.path.exists(corpus):
        from transformers import AutoTokenizer
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        texts = make_corpus(args.n, args.seed, tokenizer)
        with open(corpus, "w", encoding="utf-8") as f:
            for text in texts:
                f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    with open(corpus, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    onnx_path = os.path.join(args.out, "all-MiniLM-L6-v2.fp32.onnx")
    if "onnxruntime" in args.engines and not os.path.exists(onnx_path):
        print(f"exporting ONNX graph to {onnx_path}")
        # In a child, so that torch never inflates this driver process.
        subprocess.run([sys.executable, __file__, "--engine", "export-onnx", "--model-dir", model_dir,
                        "--onnx", onnx_path], check=True)

    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model_name = next((l.split(":", 1)[1].strip() for l in cpu.splitlines() if l.startswith("Model name")), "?")
    print(f"corpus {corpus}: {len(texts)} texts, seed {args.seed}; threads {args.threads}; "
          f"CPU {model_name}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               TOKENIZERS_PARALLELISM="false")
    def run_engine(engine):
        ours = engine.startswith("vectorstream")
        vectors = os.path.join(args.out, f"vectors-{engine}" + (".f32" if ours else ".npy"))
        print(f"running {engine}")
        if ours:
            # vectorstream: fp32 as configured by default (our packed kernel where the CPU has AVX-512F);
            # vectorstream-blas: fp32 with every product through OpenBLAS; vectorstream-bf16: the
            # reduced-precision path, reported beside fp32 (never instead of it).
            command = [args.binary, "bench", "embed", "--corpus", corpus, "--threads", str(args.threads),
                       "--vectors", vectors, "--model-dir", model_dir,
                       "--precision", "bf16" if engine.endswith("-bf16") else "fp32"]
            if engine.endswith("-blas"):
                command += ["--matrix-kernel", "blas"]
        else:
            command = [sys.executable, __file__, "--engine", engine, "--corpus", corpus, "--vectors", vectors,
                       "--threads", str(args.threads), "--batch-size", str(args.batch_size),
                       "--model-dir", model_dir, "--onnx", onnx_path]
        result = run_child(command, env)
        result["vectors"] = (np.fromfile(vectors, dtype="<f4").reshape(len(texts), 384)
                             if ours else np.load(vectors))
        return result

    # Rounds interleave the engines, so a slow minute of the machine hits all of them alike.
    engines = args.engines.split(",")
    rounds = []
    for index in range(max(1, args.repeat)):
        if args.repeat > 1:
            print(f"round {index + 1} of {args.repeat}")
        rounds.append({engine: run_engine(engine) for engine in engines})

    print(f"load average at the end {os.getloadavg()[0]:.1f} (other work on the machine lowers every figure)")

    last = rounds[-1]
    baseline = last.get("sentence-transformers")
    rates = {e: [r[e]["sentences_per_second"] for r in rounds] for e in engines}
    onnx_rate = statistics.median(rates["onnxruntime"]) if "onnxruntime" in rates else None
    print()
    if len(rounds) > 1:
        print(f"Median of {len(rounds)} rounds (range in brackets); ratios per round in brackets too.")
        print()
    print(f"| engine | sentences/s | peak RSS (MB) | vs onnxruntime | min / mean cosine to sentence-transformers |")
    print(f"|---|---:|---:|---:|---|")
    for engine in engines:
        rate = statistics.median(rates[engine])
        rss = max(r[engine]["peak_rss_mb"] for r in rounds)
        spread = f" [{min(rates[engine]):.1f}–{max(rates[engine]):.1f}]" if len(rounds) > 1 else ""
        if onnx_rate:
            ratio = f"{rate / onnx_rate:.2f}x"
            if len(rounds) > 1:
                per_round = [r[engine]["sentences_per_second"] / r["onnxruntime"]["sentences_per_second"] for r in rounds]
                ratio += f" [{min(per_round):.2f}–{max(per_round):.2f}]"
        else:
            ratio = "-"
        if baseline is not None:
            c = cosines(last[engine]["vectors"], baseline["vectors"])
            cos = f"{c.min():.7f} / {c.mean():.7f}"
        else:
            cos = "-"
        print(f"| {engine} | {rate:.1f}{spread} | {rss:.0f} | {ratio} | {cos} |")


if __name__ == "__main__":
    main()
