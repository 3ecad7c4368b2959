import Foundation

/// An HTTP error answer: a status and a message, sent as llama.cpp's JSON error shape.
struct HTTPProblem: Error, Equatable {
    var status: Int
    var message: String
    /// The error type when it is not the status's usual one (llama.cpp's
    /// `exceed_context_size_error`), and the numbers that go with it.
    var type: String?
    var details: [String: Int] = [:]
    init(_ status: Int, _ message: String, type: String? = nil, details: [String: Int] = [:]) {
        self.status = status
        self.message = message
        self.type = type
        self.details = details
    }

    /// llama.cpp's and OpenAI's error object.
    var json: [String: Any] {
        let type =
            status == 401
            ? "authentication_error"
            : status == 404
                ? "not_found_error"
                : status == 413
                    ? "request_too_large"
                    : status >= 500 ? "server_error" : "invalid_request_error"
        var error: [String: Any] = ["code": status, "message": message, "type": self.type ?? type]
        for (k, v) in details { error[k] = v }
        return ["error": error]
    }
}

/// The HTTP request parser as a fuzz target (`tailor-fuzz http-request`): the first byte picks
/// the endpoint, the rest is the body. Public only so that the fuzzer can reach it.
public enum HTTPRequestFuzzing {
    /// Parses `bytes` as a request body; refusals are the expected outcome.
    public static func parse(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let endpoints: [CompletionRequest.Endpoint] = [.completion, .infill, .openAICompletion, .openAIChat]
        _ = try? CompletionRequest(endpoint: endpoints[Int(first) % endpoints.count], body: Array(bytes.dropFirst()))
    }
}
