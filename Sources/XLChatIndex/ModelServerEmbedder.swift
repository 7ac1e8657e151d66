import Foundation
import XLChatLLM

/// An `Embedder` backed by the model server's embedding endpoint (`XLCHAT_EMBED_MODEL`): Ollama
/// `/api/embed` or OpenAI-compatible `/v1/embeddings`, through the `ModelClient`. Its vector
/// size is learned from one probe embedding.
///
/// It lives beside the `Embedder` protocol it serves (it used to be in the server, so only the
/// server could build an index with the model server's vectors).
public struct ModelServerEmbedder: Embedder {
    public let client: any ModelClient
    public let model: String
    public let dimensions: Int
    /// `model:<name>-<dimensions>`: an index built with another model or size gets new vectors.
    public var identifier: String { "model:\(model)-\(dimensions)" }

    public init(client: any ModelClient, model: String, dimensions: Int) {
        self.client = client; self.model = model; self.dimensions = dimensions
    }

    /// Embeds one short text to learn the model's vector size.
    /// - Throws: `LLMError` (`unavailable`, `modelNotFound`, …) from the model server, or
    ///   `.badResponse` when it answers with no vector.
    public static func probe(client: any ModelClient, model: String) async throws -> ModelServerEmbedder {
        let v = try await client.embed(model: model, texts: ["xlchat"])
        guard let first = v.first, !first.isEmpty else {
            throw LLMError(.badResponse, "\(client.endpointDescription) returned no embedding for the model '\(model)'")
        }
        return ModelServerEmbedder(client: client, model: model, dimensions: first.count)
    }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        try await client.embed(model: model, texts: texts)
    }
}
