import Foundation

/// The GGUF models on this machine that a person can name instead of giving a path, the way
/// Ollama and llama.cpp users expect: the files in Tailor's models directory (where
/// Scripts/fetch-model.sh puts them) and the models Ollama has pulled. `--model`, `model =` in
/// tailord.conf and `tailor models load` all resolve through `resolve(_:)`.
public struct ModelCatalog: Sendable {
    /// Tailor's models directory: `$TAILOR_MODELS_DIR`, else `$XDG_DATA_HOME/tailor/models`,
    /// else `~/.local/share/tailor/models`.
    public var directory: URL
    /// Ollama's stores, searched in order (see `OllamaStore.defaultRoots`).
    public var ollama: [OllamaStore]

    /// A catalog over `directory` and the Ollama stores at `ollamaRoots`.
    public init(directory: URL, ollamaRoots: [URL]) {
        self.directory = directory
        self.ollama = ollamaRoots.map(OllamaStore.init(root:))
    }

    /// The catalog of the process's user, from `environment`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let home = environment["HOME"] ?? NSHomeDirectory()
        let dir =
            environment["TAILOR_MODELS_DIR"]
            ?? ((environment["XDG_DATA_HOME"] ?? home + "/.local/share") + "/tailor/models")
        self.init(
            directory: URL(fileURLWithPath: dir),
            ollamaRoots: OllamaStore.defaultRoots(environment: environment, home: home))
    }

    /// One model found.
    public struct Entry: Sendable, Equatable {
        /// What to pass as `--model`: the file name, or Ollama's `name:tag`.
        public var name: String
        /// Where it came from: "tailor" or "ollama".
        public var source: String
        /// The GGUF file.
        public var path: String
        /// Its size in bytes.
        public var bytes: UInt64
    }

    /// Every model found: Tailor's directory first, then Ollama's (the first store's when two
    /// hold a name), each by name.
    public func available() -> [Entry] {
        let fm = FileManager.default
        let files = ((try? fm.contentsOfDirectory(atPath: directory.path)) ?? []).filter {
            $0.lowercased().hasSuffix(".gguf") && !$0.hasPrefix(".")
        }
        let local = files.sorted().map { name -> Entry in
            let path = directory.appendingPathComponent(name).path
            return Entry(name: name, source: "tailor", path: path, bytes: Self.size(path))
        }
        var seen = Set<String>()
        let pulled = ollama.flatMap { $0.models() }.filter { seen.insert($0.name).inserted }.sorted {
            $0.name < $1.name
        }
        return local + pulled.map { Entry(name: $0.name, source: "ollama", path: $0.path, bytes: Self.size($0.path)) }
    }

    /// The GGUF file `argument` names: an existing file as given, else a file in Tailor's
    /// directory (with or without `.gguf`, then ignoring case), else an Ollama model
    /// (`gemma3:270m`, `gemma3` for `:latest`, `hf.co/user/repo:tag`).
    /// - Throws: `ModelCatalogError.notFound` saying where it looked.
    public func resolve(_ argument: String) throws -> String {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: argument, isDirectory: &isDirectory), !isDirectory.boolValue {
            return URL(fileURLWithPath: argument).standardizedFileURL.path
        }
        let looksLikePath = argument.hasPrefix("/") || argument.hasPrefix(".") || argument.hasPrefix("~")
        if !looksLikePath {
            if let local = localFile(argument) { return local }
            for store in ollama {
                if let path = try store.model(named: argument) { return path }
            }
        }
        throw ModelCatalogError.notFound(
            argument: argument, looksLikePath: looksLikePath, directory: directory.path,
            ollama: ollama.map(\.root.path))
    }

    private func localFile(_ name: String) -> String? {
        guard !name.isEmpty, !name.contains("/") else { return nil }
        let fm = FileManager.default
        for candidate in [name, name + ".gguf"] {
            let path = directory.appendingPathComponent(candidate).path
            if fm.fileExists(atPath: path) { return path }
        }
        let wanted = name.lowercased()
        let files = (try? fm.contentsOfDirectory(atPath: directory.path)) ?? []
        let match = files.sorted().first { f in
            let l = f.lowercased()
            return l.hasSuffix(".gguf") && (l == wanted || l == wanted + ".gguf")
        }
        return match.map { directory.appendingPathComponent($0).path }
    }

    private static func size(_ path: String) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
    }
}

/// Why a model could not be found or read, in words a person can act on.
public enum ModelCatalogError: Error, Equatable, CustomStringConvertible {
    /// Nothing matched the argument.
    case notFound(argument: String, looksLikePath: Bool, directory: String, ollama: [String])
    /// An Ollama manifest exists but names no model layer, or a blob is missing.
    case badOllamaModel(name: String, problem: String)

    public var description: String {
        switch self {
        case let .notFound(argument, looksLikePath, directory, ollama):
            if looksLikePath { return "no model file at \(argument)" }
            let stores = ollama.isEmpty ? "" : " or Ollama's store (\(ollama.joined(separator: ", ")))"
            return "no model named '\(argument)': it is not a file, and not in \(directory)\(stores); "
                + "`tailor models available` lists the models found, Scripts/fetch-model.sh fetches the default"
        case let .badOllamaModel(name, problem):
            return "Ollama model '\(name)' cannot be used: \(problem)"
        }
    }
}
