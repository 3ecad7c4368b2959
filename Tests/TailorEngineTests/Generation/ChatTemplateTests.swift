import TailorTestSupport
import XCTest

@testable import TailorEngine

final class ChatTemplateTests: XCTestCase {
    let messages = [ChatMessage(role: .system, content: "Be brief."), ChatMessage(role: .user, content: "Hi")]

    func testDetection() {
        XCTAssertEqual(ChatTemplate.detect(jinja: "{{'<|im_start|>' + m}}", architecture: .llama), .chatML)
        XCTAssertEqual(ChatTemplate.detect(jinja: "<|start_header_id|>", architecture: .qwen2), .llama3)
        XCTAssertEqual(ChatTemplate.detect(jinja: "<start_of_turn>", architecture: .llama), .gemma)
        XCTAssertEqual(ChatTemplate.detect(jinja: nil, architecture: .gemma2), .gemma)
        XCTAssertEqual(ChatTemplate.detect(jinja: nil, architecture: .gemma3), .gemma)
        XCTAssertEqual(ChatTemplate.detect(jinja: nil, architecture: .qwen2), .chatML)
        XCTAssertEqual(ChatTemplate.detect(jinja: "{{'<|assistant|>\n' + c + '<|end|>'}}", architecture: .llama), .phi3)
        XCTAssertEqual(ChatTemplate.detect(jinja: nil, architecture: .phi3), .phi3)
    }

    /// Phi-3.5-mini's own Jinja template, rendered by jinja2, gives this text for these messages;
    /// it leaves out an empty system message.
    func testPhi3RendersAsItsJinjaTemplate() {
        XCTAssertEqual(
            ChatTemplate.phi3.render(messages), "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n")
        XCTAssertEqual(
            ChatTemplate.phi3.render([ChatMessage(role: .system, content: ""), ChatMessage(role: .user, content: "Hi")]
            ),
            "<|user|>\nHi<|end|>\n<|assistant|>\n")
    }

    func testRenderings() {
        XCTAssertEqual(
            ChatTemplate.chatML.render(messages),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertEqual(
            ChatTemplate.llama3.render(messages),
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n"
        )
        XCTAssertEqual(
            ChatTemplate.gemma.render(messages),
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n")
    }

    /// SmolLM2's own template, rendered by HF's apply_chat_template, tokenizes to the ids in the
    /// real-model fixture; ours must render the same text.
    func testSmolLM2DefaultSystemPromptMatchesHF() throws {
        let (model, ref) = try RealModelTests.load("smollm2", TestPaths.smolLM2)
        let chat = try XCTUnwrap(ref.prompts.first { $0.chat })
        let system = ChatTemplate.defaultSystemPrompt(jinja: model.tokenizer.chatTemplate)
        XCTAssertEqual(system, "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        let rendered = ChatTemplate.chatML.render([
            ChatMessage(role: .system, content: system!),
            ChatMessage(role: .user, content: "Write one sentence about the moon."),
        ])
        XCTAssertEqual(rendered, chat.text)
    }
}
