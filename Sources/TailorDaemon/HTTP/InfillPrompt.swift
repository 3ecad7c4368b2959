import TailorEngine

/// The token sequence of an /infill request, as llama.cpp's server builds it: extra context
/// chunks first (each after the file-separator token when the model has one), then
/// FIM-prefix + the code before the cursor + FIM-suffix + the code after it + FIM-middle +
/// `prompt` (text already typed at the cursor). Too long an input keeps the end of the prefix
/// (up to 3/4 of the budget) and the start of the suffix; extra chunks get what is left.
/// A model without FIM tokens gets a plain continuation prompt: the chunks, then the prefix.
enum InfillPrompt {
    static func tokens(
        prefix: String, suffix: String, extra: [CompletionRequest.ExtraChunk], prompt: String,
        tokenizer tok: Tokenizer, budget: Int
    ) -> [Int32] {
        tokens(
            prefix: prefix, suffix: suffix, extra: extra, prompt: prompt, fim: tok.fimTokens,
            bos: tok.promptStart,
            encode: { tok.encode($0, addSpecial: false, parseSpecial: false) }, budget: budget)
    }

    /// The same over any encoder (tests use one token per character).
    static func tokens(
        prefix: String, suffix: String, extra: [CompletionRequest.ExtraChunk], prompt: String,
        fim: FIMTokens?, bos: [Int32], encode rawEncode: (String) -> [Int32], budget: Int
    ) -> [Int32] {
        func encode(_ s: String) -> [Int32] { s.isEmpty ? [] : rawEncode(s) }
        let typed = encode(prompt)
        guard let fim else {
            let head = bos + extra.flatMap { encode(($0.filename.isEmpty ? "" : $0.filename + "\n") + $0.text + "\n") }
            var body = encode(prefix) + typed
            let room = max(1, budget - bos.count)
            if body.count > room { body = Array(body.suffix(room)) }
            let chunks = Array(head.dropFirst(bos.count).prefix(max(0, room - body.count)))
            return bos + chunks + body
        }
        let room = max(4, budget - bos.count - 3 - typed.count)
        var pre = encode(prefix), suf = encode(suffix)
        let maxPrefix = room * 3 / 4
        if pre.count > maxPrefix { pre = Array(pre.suffix(maxPrefix)) }
        if suf.count > room - pre.count { suf = Array(suf.prefix(max(0, room - pre.count))) }
        var left = room - pre.count - suf.count
        var context: [Int32] = []
        for chunk in extra where left > 0 {
            var t =
                (fim.fileSeparator.map { [$0] } ?? [])
                + encode((chunk.filename.isEmpty ? "" : chunk.filename + "\n") + chunk.text)
            if t.count > left { t = Array(t.prefix(left)) }
            context += t
            left -= t.count
        }
        return bos + context + [fim.prefix] + pre + [fim.suffix] + suf + [fim.middle] + typed
    }
}
