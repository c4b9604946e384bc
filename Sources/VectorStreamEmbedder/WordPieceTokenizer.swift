import Foundation

/// BERT's uncased WordPiece tokenizer, reproducing the model's own (Hugging Face `tokenizers` BertNormalizer,
/// BertPreTokenizer and WordPiece with the settings of all-MiniLM-L6-v2) on any Unicode text.
///
/// Steps, in the model's order: drop NUL, U+FFFD and control/format/unassigned characters and turn every
/// whitespace into a space; put spaces around CJK ideographs; strip accents (NFD, then drop non-spacing marks);
/// lower-case; split on whitespace and punctuation; cut each word into the longest vocabulary pieces from the
/// left (`##` marks a continuation), or `[UNK]` when a word has no such split or is over 100 characters.
public struct WordPieceTokenizer: Sendable {
    public struct Encoding: Sendable, Hashable {
        /// `[CLS] pieces… [SEP]`, truncated to the maximum length.
        public var ids: [Int32]
        /// Number of word pieces that did not fit (0 when nothing was cut).
        public var truncatedPieces: Int
    }

    public let vocabulary: [String: Int32]
    /// Tokens by id, for tests and debugging.
    public let tokens: [String]
    public let unknownID: Int32
    public let classifierID: Int32
    public let separatorID: Int32
    public let paddingID: Int32
    /// Longest number of tokens an encoding may have, `[CLS]` and `[SEP]` included.
    public let maxLength: Int
    /// Words longer than this many characters become `[UNK]` without being split.
    public let maxCharactersPerWord: Int
    private let longestTokenScalars: Int

    /// Reads `vocab.txt`: one token a line, the id being the line number from 0.
    public init(vocabularyFile path: String, maxLength: Int = 256) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EmbedderError.missingFile(path: path, reason: "cannot read the vocabulary")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw EmbedderError.malformedFile(path: path, reason: "not UTF-8 text")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
        if lines.last == "" { lines.removeLast() }
        try self.init(tokens: lines, maxLength: maxLength, source: path)
    }

    public init(tokens: [String], maxLength: Int = 256, source: String = "vocabulary") throws {
        guard maxLength >= 2 else { throw EmbedderError.invalidConfiguration("maxLength \(maxLength) < 2") }
        var vocabulary: [String: Int32] = [:]
        vocabulary.reserveCapacity(tokens.count)
        for (index, token) in tokens.enumerated() where vocabulary[token] == nil {
            vocabulary[token] = Int32(index)
        }
        func id(_ token: String) throws -> Int32 {
            guard let id = vocabulary[token] else {
                throw EmbedderError.malformedFile(path: source, reason: "special token \(token) is missing")
            }
            return id
        }
        self.vocabulary = vocabulary
        self.tokens = tokens
        unknownID = try id("[UNK]")
        classifierID = try id("[CLS]")
        separatorID = try id("[SEP]")
        paddingID = try id("[PAD]")
        self.maxLength = maxLength
        maxCharactersPerWord = 100
        longestTokenScalars = tokens.map { $0.unicodeScalars.count }.max() ?? 1
    }

    /// Token ids of `text` with `[CLS]` and `[SEP]`, at most `maxLength` of them.
    public func encode(_ text: String) -> Encoding {
        var ids: [Int32] = [classifierID]
        ids.reserveCapacity(min(maxLength, text.utf8.count + 2))
        let budget = maxLength - 2
        var dropped = 0
        forEachPiece(of: text) { piece in
            if ids.count - 1 < budget { ids.append(piece) } else { dropped += 1 }
        }
        ids.append(separatorID)
        return Encoding(ids: ids, truncatedPieces: dropped)
    }

    /// Token strings of `text` (with `[CLS]`/`[SEP]`), for tests and debugging.
    public func tokenize(_ text: String) -> [String] {
        encode(text).ids.map { tokens[Int($0)] }
    }

    // MARK: Normalisation

    /// Text as the model's normaliser leaves it, as Unicode scalars.
    func normalize(_ text: String) -> [Unicode.Scalar] {
        var cleaned: [Unicode.Scalar] = []
        cleaned.reserveCapacity(text.unicodeScalars.count)
        var asciiOnly = true
        for scalar in text.unicodeScalars {
            let value = scalar.value
            if value < 0x80 {
                // ASCII: tab, newline and CR count as whitespace; every other control is dropped.
                if value == 0x09 || value == 0x0A || value == 0x0D || value == 0x20 {
                    cleaned.append(" ")
                } else if value < 0x20 || value == 0x7F {
                    continue
                } else if value >= 0x41 && value <= 0x5A {
                    cleaned.append(Unicode.Scalar(value + 0x20)!)
                } else {
                    cleaned.append(scalar)
                }
                continue
            }
            asciiOnly = false
            if value == 0xFFFD || Self.isOther(scalar) { continue }
            if scalar.properties.isWhitespace {
                cleaned.append(" ")
            } else if Self.isCJK(value) {
                cleaned.append(" ")
                cleaned.append(scalar)
                cleaned.append(" ")
            } else {
                cleaned.append(scalar)
            }
        }
        if asciiOnly { return cleaned }
        // Accents are stripped before lower-casing, as the model's normaliser does (it matters for İ).
        var decomposed = String(String.UnicodeScalarView(cleaned)).decomposedStringWithCanonicalMapping
        decomposed.unicodeScalars.removeAll { $0.properties.generalCategory == .nonspacingMark }
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(decomposed.unicodeScalars.count)
        for scalar in decomposed.unicodeScalars {
            if scalar.value < 0x80 {
                let value = scalar.value
                result.append(value >= 0x41 && value <= 0x5A ? Unicode.Scalar(value + 0x20)! : scalar)
            } else if scalar.properties.changesWhenLowercased {
                // Character by character, as the model's tokenizer does (no final-sigma rule).
                result.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            } else {
                result.append(scalar)
            }
        }
        return result
    }

    /// Control, format, private-use, surrogate and unassigned characters, which the model's cleaner drops.
    static func isOther(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .privateUse, .surrogate, .unassigned:
            return true
        default:
            return false
        }
    }

    /// The CJK ideograph blocks BERT splits into single characters.
    static func isCJK(_ value: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(value) || (0x3400...0x4DBF).contains(value)
            || (0x20000...0x2A6DF).contains(value) || (0x2A700...0x2B73F).contains(value)
            || (0x2B740...0x2B81F).contains(value) || (0x2B920...0x2CEAF).contains(value)
            || (0xF900...0xFAFF).contains(value) || (0x2F800...0x2FA1F).contains(value)
    }

    /// BERT punctuation: all ASCII symbols and punctuation, plus Unicode punctuation categories.
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 {
            return (0x21...0x2F).contains(value) || (0x3A...0x40).contains(value)
                || (0x5B...0x60).contains(value) || (0x7B...0x7E).contains(value)
        }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    // MARK: Pre-tokenisation and WordPiece

    /// Calls `body` with the id of each word piece of `text`, in order.
    func forEachPiece(of text: String, _ body: (Int32) -> Void) {
        let scalars = normalize(text)
        var wordStart = 0
        var index = 0
        let count = scalars.count
        while index <= count {
            let boundary: Bool
            var isolated = false
            if index == count {
                boundary = true
            } else {
                let scalar = scalars[index]
                if scalar == " " || (scalar.value >= 0x80 && scalar.properties.isWhitespace) {
                    boundary = true
                } else if Self.isPunctuation(scalar) {
                    boundary = true
                    isolated = true
                } else {
                    boundary = false
                }
            }
            if boundary {
                if wordStart < index { wordPieces(scalars[wordStart..<index], body) }
                if isolated { wordPieces(scalars[index..<index + 1], body) }
                wordStart = index + 1
            }
            index += 1
        }
    }

    /// Longest-match-first split of one word into vocabulary pieces.
    private func wordPieces(_ word: ArraySlice<Unicode.Scalar>, _ body: (Int32) -> Void) {
        if word.count > maxCharactersPerWord {
            body(unknownID)
            return
        }
        // Whole-word fast path: most words are in the vocabulary as they are.
        var whole = String.UnicodeScalarView()
        whole.append(contentsOf: word)
        if let id = vocabulary[String(whole)] {
            body(id)
            return
        }
        var pieces: [Int32] = []
        var start = word.startIndex
        while start < word.endIndex {
            var end = min(word.endIndex, start + longestTokenScalars)
            var found: Int32?
            while end > start {
                var candidate = String.UnicodeScalarView()
                if start > word.startIndex { candidate.append(contentsOf: "##".unicodeScalars) }
                candidate.append(contentsOf: word[start..<end])
                if let id = vocabulary[String(candidate)] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else {
                body(unknownID)
                return
            }
            pieces.append(id)
            start = end
        }
        pieces.forEach(body)
    }
}
