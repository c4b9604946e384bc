import Crypto

/// Content hashes for dedup: SHA-256, hex, truncated to 128 bits (collision-free for any catalog).
public enum ContentHash {
    public static func of(_ text: String) -> String {
        let digest = SHA256.hash(data: Array(text.utf8))
        return hex(digest.prefix(16))
    }

    /// The hash a product's vector is known by: its text under one model version (the embedding cache's key).
    public static func productText(_ product: Product, modelVersion: String) -> String {
        of(modelVersion + "\u{1F}" + product.embeddingText)
    }

    /// The hash of a whole vector-store record: the text's hash and the payload that is not part of the text
    /// (the price). A new price changes it, so the stored payload is rewritten (the vector comes from the cache).
    public static func productRecord(textHash: String, product: Product) -> String {
        of(textHash + "\u{1F}" + String(product.price))
    }

    public static func productRecord(_ product: Product, modelVersion: String) -> String {
        productRecord(textHash: productText(product, modelVersion: modelVersion), product: product)
    }

    /// The full SHA-256 of some bytes, hex (a dead letter's fingerprint when only part of it is kept).
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        hex(SHA256.hash(data: bytes))
    }

    static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(32)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
