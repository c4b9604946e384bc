import VectorStreamCore

extension MiniLMEmbedder.Configuration {
    /// The embedder configuration of the `embedder.*` settings (config file keys / `VECTORSTREAM_*` variables).
    public init(settings: VectorStreamConfiguration.EmbedderSettings) {
        self.init(modelDirectory: settings.modelDirectory, threads: settings.threads, batchSize: settings.batchSize,
                  precision: EmbedderPrecision(rawValue: settings.precision) ?? .fp32,
                  matrixKernel: MatrixKernel(rawValue: settings.matrixKernel) ?? .auto)
    }
}
