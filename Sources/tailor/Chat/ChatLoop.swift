import Foundation
import TailorEngine

/// `tailor run` with no prompt on a terminal: a conversation with the model, as `ollama run`
/// and `llama-cli -cnv` offer it. Each turn is rendered with the model's chat template; the
/// tokens of earlier turns stay in the KV cache, so a turn prefills only what is new. Ctrl-C
/// stops a reply; /clear forgets the conversation; /bye or Ctrl-D ends it.
struct ChatLoop {
    let generator: Generator
    let system: String?
    let sampling: SamplingParameters
    let options: GenerationOptions

    func run() throws {
        let model = generator.context.model
        let template = ChatTemplate.detect(jinja: model.tokenizer.chatTemplate, architecture: model.config.architecture)
        let editor = LineEditor(historyFile: LineEditor.defaultHistoryFile)
        let interrupt = InterruptFlag()
        var messages: [ChatMessage] = []
        func start() {
            messages = []
            let s =
                system
                ?? (template == .chatML ? ChatTemplate.defaultSystemPrompt(jinja: model.tokenizer.chatTemplate) : nil)
            if let s { messages.append(ChatMessage(role: .system, content: s)) }
        }
        start()
        var held: [Int32] = []  // the tokens the sequence's KV cache holds
        Console.error(
            """
            chat with \(model.config.architecture.rawValue) (/bye or Ctrl-D ends, /clear forgets, Ctrl-C stops a \
            reply)
            """
        )
        while true {
            let line: String
            switch editor.read(prompt: ">>> ") {
            case .end: return
            case .interrupted: continue
            case let .line(l): line = l
            }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            if trimmed == "/bye" || trimmed == "/exit" { return }
            if trimmed == "/clear" {
                start()
                held = []
                Console.error("(the conversation is forgotten)")
                continue
            }
            messages.append(ChatMessage(role: .user, content: line))
            let ids = model.tokenizer.encode(template.render(messages), addSpecial: true, parseSpecial: true)
            guard ids.count < generator.context.maxContext - 1 else {
                messages.removeLast()
                Console.error(
                    "the conversation fills the context (\(generator.context.maxContext) tokens): /clear to start over")
                continue
            }
            let reuse = min(Self.commonPrefix(held, ids), ids.count - 1)
            interrupt.arm()
            let result = try generator.generate(prompt: ids, reusing: reuse, sampling: sampling, options: options) {
                Console.write($0)
                return !interrupt.isSet
            }
            interrupt.disarm()
            Console.write("\n")
            let reply = result.text.trimmingCharacters(in: .whitespacesAndNewlines)
            messages.append(ChatMessage(role: .assistant, content: reply))
            let length = generator.context.length(of: generator.sequence)
            held = Array((ids + result.tokens).prefix(length))
        }
    }

    static func commonPrefix(_ a: [Int32], _ b: [Int32]) -> Int {
        var n = 0
        while n < a.count && n < b.count && a[n] == b[n] { n += 1 }
        return n
    }
}

/// Ctrl-C while a reply streams: sets a flag the generation polls, instead of ending the
/// process (outside a reply, the line editor reads Ctrl-C itself).
final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false
    private var source: (any DispatchSourceSignal)?

    var isSet: Bool { lock.withLock { set } }

    func arm() {
        lock.withLock { set = false }
        signal(SIGINT, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        s.setEventHandler { [weak self] in self?.lock.withLock { self?.set = true } }
        s.resume()
        source = s
    }

    func disarm() {
        source?.cancel()
        source = nil
        signal(SIGINT, SIG_DFL)
    }
}
