import ArgumentParser
import Foundation
import TailorEngine

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenize", abstract: "Print the token ids of a text.")

    @OptionGroup var modelOptions: ModelOptions
    @Flag(name: .customLong("no-special"), help: "Add no BOS/EOS and read special-token text as plain text.")
    var noSpecial = false
    @Option(help: "Text to tokenize.") var text: String?
    @Option(help: "File whose text to tokenize.") var file: String?
    @Flag(help: "Print one JSON array.") var json = false

    func validate() throws {
        guard (text == nil) != (file == nil) else { throw ValidationError("give exactly one of --text or --file") }
    }

    func run() throws {
        let input = try text ?? readTextFile(file!)
        let model = try modelOptions.load()
        let ids = model.tokenizer.encode(input, addSpecial: !noSpecial, parseSpecial: !noSpecial)
        if json {
            Console.write("[" + ids.map(String.init).joined(separator: ",") + "]\n")
        } else {
            Console.write(ids.map(String.init).joined(separator: " ") + "\n")
        }
    }
}
