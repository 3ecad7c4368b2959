/// A chat message for `ChatTemplate`.
public struct ChatMessage: Sendable, Equatable {
    /// Who speaks in a message.
    public enum Role: String, Sendable { case system, user, assistant }
    /// Who speaks.
    public var role: Role
    /// What is said.
    public var content: String
    /// A message of `role` saying `content`.
    public init(role: Role, content: String) {
        self.role = role
        self.content = content
    }
}

/// The prompt formats of the supported families. Rather than run Jinja, Tailor recognizes the
/// format from markers in the GGUF's `tokenizer.chat_template` (as llama.cpp does) and renders
/// it natively, so a template cannot execute code or fail at run time.
public enum ChatTemplate: String, Sendable, CaseIterable {
    /// `<|im_start|>role\n...<|im_end|>\n`: SmolLM2, Qwen2.5.
    case chatML = "chatml"
    /// `<|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>`: Llama 3.x.
    case llama3
    /// `<start_of_turn>user\n...<end_of_turn>\n`: Gemma (system text folded into the first turn).
    case gemma
    /// `<|user|>\n...<|end|>\n<|assistant|>\n`: Phi-3, Phi-3.5 and Phi-4-mini.
    case phi3

    /// Picks the template from the model's Jinja source, else from its architecture.
    public static func detect(jinja: String?, architecture: Architecture) -> ChatTemplate {
        if let t = jinja {
            if t.contains("<|im_start|>") { return .chatML }
            if t.contains("<|start_header_id|>") { return .llama3 }
            if t.contains("<start_of_turn>") { return .gemma }
            if t.contains("<|assistant|>") && t.contains("<|end|>") { return .phi3 }
        }
        switch architecture {
        case .gemma2, .gemma3: return .gemma
        case .llama: return .llama3
        case .qwen2, .qwen3, .qwen3moe, .smollm3: return .chatML
        case .phi3: return .phi3
        }
    }

    /// The system prompt a ChatML template inserts when the conversation has none (SmolLM2's
    /// "You are a helpful AI assistant named SmolLM..."), read from the Jinja source.
    public static func defaultSystemPrompt(jinja: String?) -> String? {
        guard let t = jinja, let open = t.range(of: "<|im_start|>system\n") else { return nil }
        guard let close = t.range(of: "<|im_end|>", range: open.upperBound..<t.endIndex) else { return nil }
        let text = String(t[open.upperBound..<close.lowerBound])
        return text.contains("{") || text.contains("}") ? nil : text
    }

    /// Renders `messages`, ending with the opening of the assistant's turn when
    /// `addGenerationPrompt` is set. BOS is not included: the tokenizer adds it by its own rule,
    /// which avoids the doubled BOS of the CoPe reference code.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var s = ""
        switch self {
        case .chatML:
            for m in messages { s += "<|im_start|>\(m.role.rawValue)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { s += "<|im_start|>assistant\n" }
        case .llama3:
            for m in messages {
                s += "<|start_header_id|>\(m.role.rawValue)<|end_header_id|>\n\n\(m.content)<|eot_id|>"
            }
            if addGenerationPrompt { s += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        case .gemma:
            var pendingSystem = ""
            for m in messages {
                switch m.role {
                case .system: pendingSystem += m.content + "\n\n"
                case .user:
                    s += "<start_of_turn>user\n\(pendingSystem)\(m.content)<end_of_turn>\n"
                    pendingSystem = ""
                case .assistant: s += "<start_of_turn>model\n\(m.content)<end_of_turn>\n"
                }
            }
            if addGenerationPrompt { s += "<start_of_turn>model\n" }
        case .phi3:
            // Phi-3.5's template drops an empty system message.
            for m in messages where m.role != .system || !m.content.isEmpty {
                s += "<|\(m.role.rawValue)|>\n\(m.content)<|end|>\n"
            }
            if addGenerationPrompt { s += "<|assistant|>\n" }
        }
        return s
    }
}
