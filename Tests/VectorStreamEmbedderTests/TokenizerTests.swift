import Foundation
import Testing

@testable import VectorStreamEmbedder

@Suite("WordPiece tokenizer")
struct TokenizerTests {
    let tokenizer: WordPieceTokenizer

    init() throws {
        tokenizer = try Fixtures.embedder().tokenizer
    }

    @Test("input_ids of the 20 reference sentences are identical")
    func referenceIDs() throws {
        for sentence in try Fixtures.reference().sentences {
            #expect(tokenizer.encode(sentence.text).ids == sentence.input_ids, "\(sentence.text)")
            #expect(tokenizer.tokenize(sentence.text) == sentence.tokens)
        }
    }

    @Test("hard texts match the model's own tokenizer (Turkish, Persian, Cyrillic, CJK, emoji, HTML, controls…)")
    func extraReferenceIDs() throws {
        let extra = try Fixtures.extraReference()
        #expect(extra.texts.count >= 20)
        for entry in extra.texts {
            let ids = tokenizer.encode(entry.text).ids
            #expect(ids == entry.input_ids, "\(entry.name): \(tokenizer.tokenize(entry.text)) vs \(entry.tokens)")
        }
    }

    @Test("truncation keeps 256 tokens including [CLS] and [SEP]")
    func truncation() {
        let text = Array(repeating: "stainless", count: 400).joined(separator: " ")
        let encoding = tokenizer.encode(text)
        #expect(encoding.ids.count == 256)
        #expect(encoding.ids.first == tokenizer.classifierID)
        #expect(encoding.ids.last == tokenizer.separatorID)
        #expect(encoding.truncatedPieces == 400 - 254)
    }

    @Test("one-letter, empty and whitespace-only texts")
    func tinyTexts() {
        #expect(tokenizer.tokenize("a") == ["[CLS]", "a", "[SEP]"])
        #expect(tokenizer.tokenize("A") == ["[CLS]", "a", "[SEP]"])
        #expect(tokenizer.tokenize("") == ["[CLS]", "[SEP]"])
        #expect(tokenizer.tokenize(" \t\n\r ") == ["[CLS]", "[SEP]"])
    }

    @Test("Turkish dotted and dotless i, accents and control characters")
    func normalisation() {
        // İ is I + combining dot above: the accent is stripped before lower-casing, as the model does.
        #expect(tokenizer.tokenize("İstanbul") == tokenizer.tokenize("istanbul"))
        #expect(tokenizer.tokenize("Crème Brûlée") == tokenizer.tokenize("creme brulee"))
        #expect(tokenizer.tokenize("tab\tnew\nline") == tokenizer.tokenize("tab new line"))
        #expect(tokenizer.tokenize("a\u{0}b\u{7}c\u{200B}d") == tokenizer.tokenize("abcd"))
        #expect(tokenizer.tokenize("北京") == ["[CLS]", "北", "京", "[SEP]"])
    }

    @Test("words over 100 characters become [UNK]; punctuation is split off")
    func longWordsAndPunctuation() {
        #expect(tokenizer.tokenize(String(repeating: "a", count: 101)) == ["[CLS]", "[UNK]", "[SEP]"])
        #expect(tokenizer.tokenize(String(repeating: "a", count: 100)) != ["[CLS]", "[UNK]", "[SEP]"])
        #expect(tokenizer.tokenize("it's $5!") == ["[CLS]", "it", "'", "s", "$", "5", "!", "[SEP]"])
    }
}
