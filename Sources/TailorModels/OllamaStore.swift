import Foundation

/// The models Ollama has pulled, read from its store without running Ollama: a manifest per
/// `host/namespace/model/tag` under `manifests/`, whose layer of media type
/// `application/vnd.ollama.image.model` names the GGUF blob `blobs/sha256-<hex>`.
public struct OllamaStore: Sendable {
    /// The store's root (the directory holding `manifests/` and `blobs/`).
    public var root: URL

    /// Ollama's default registry and namespace, left out of short names (`gemma3:270m`).
    static let defaultHost = "registry.ollama.ai"
    static let defaultNamespace = "library"
    static let modelLayer = "application/vnd.ollama.image.model"

    public init(root: URL) { self.root = root }

    /// Where Ollama keeps models: `$OLLAMA_MODELS`, else `~/.ollama/models`, then the Linux
    /// service's `/usr/share/ollama/.ollama/models`.
    public static func defaultRoots(environment: [String: String], home: String) -> [URL] {
        if let m = environment["OLLAMA_MODELS"], !m.isEmpty { return [URL(fileURLWithPath: m)] }
        return [home + "/.ollama/models", "/usr/share/ollama/.ollama/models"].map { URL(fileURLWithPath: $0) }
    }

    /// `name` as manifest path components (host, namespace, model, tag), or nil when it is not
    /// a valid Ollama name. Each component is plain: no "..", no empty part.
    static func components(_ name: String) -> [String]? {
        var base = name, tag = "latest"
        if let colon = name.lastIndex(of: ":"), !name[colon...].contains("/") {
            base = String(name[..<colon])
            tag = String(name[name.index(after: colon)...])
        }
        var parts = base.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch parts.count {
        case 1: parts = [defaultHost, defaultNamespace] + parts
        case 2: parts = [defaultHost] + parts
        case 3: break
        default: return nil
        }
        parts.append(tag)
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        for p in parts {
            guard !p.isEmpty, p != ".", p != "..", p.unicodeScalars.allSatisfy(allowed.contains) else { return nil }
        }
        return parts
    }

    /// The short name people type for manifest components.
    static func name(_ c: [String]) -> String {
        let base: String
        if c[0] == defaultHost && c[1] == defaultNamespace {
            base = c[2]
        } else if c[0] == defaultHost {
            base = c[1] + "/" + c[2]
        } else {
            base = c[0..<3].joined(separator: "/")
        }
        return base + ":" + c[3]
    }

    /// The GGUF blob of model `name`; nil when the store has no such manifest.
    /// - Throws: `ModelCatalogError.badOllamaModel` for a manifest without a usable model layer.
    public func model(named name: String) throws -> String? {
        guard let c = Self.components(name) else { return nil }
        let manifest = c.reduce(root.appendingPathComponent("manifests")) { $0.appendingPathComponent($1) }
        guard FileManager.default.fileExists(atPath: manifest.path) else { return nil }
        return try blob(manifest: manifest, name: name)
    }

    /// Every pulled model with a readable manifest and blob, by name.
    public func models() -> [(name: String, path: String)] {
        let manifests = root.appendingPathComponent("manifests")
        let fm = FileManager.default
        func list(_ u: URL) -> [String] { ((try? fm.contentsOfDirectory(atPath: u.path)) ?? []).sorted() }
        var found: [(String, String)] = []
        for host in list(manifests) {
            for ns in list(manifests.appendingPathComponent(host)) {
                for model in list(manifests.appendingPathComponent(host).appendingPathComponent(ns)) {
                    let dir = manifests.appendingPathComponent(host).appendingPathComponent(ns)
                        .appendingPathComponent(model)
                    for tag in list(dir) {
                        let name = Self.name([host, ns, model, tag])
                        if let path = try? blob(manifest: dir.appendingPathComponent(tag), name: name) {
                            found.append((name, path))
                        }
                    }
                }
            }
        }
        return found
    }

    /// The model layer's blob named by the manifest at `url`; at most 1 MB of manifest is read.
    private func blob(manifest url: URL, name: String) throws -> String {
        guard let handle = try? FileHandle(forReadingFrom: url) else {
            throw ModelCatalogError.badOllamaModel(name: name, problem: "its manifest cannot be read")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: 1 << 20)) ?? Data()
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let layers = json["layers"] as? [[String: Any]]
        else {
            throw ModelCatalogError.badOllamaModel(name: name, problem: "its manifest is not an Ollama manifest")
        }
        guard let digest = layers.first(where: { $0["mediaType"] as? String == Self.modelLayer })?["digest"] as? String
        else {
            throw ModelCatalogError.badOllamaModel(name: name, problem: "its manifest has no model layer")
        }
        let hex = digest.hasPrefix("sha256:") ? String(digest.dropFirst(7)) : ""
        guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else {
            throw ModelCatalogError.badOllamaModel(name: name, problem: "its model layer's digest is malformed")
        }
        let path = root.appendingPathComponent("blobs").appendingPathComponent("sha256-" + hex).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelCatalogError.badOllamaModel(name: name, problem: "its model blob \(path) is missing")
        }
        return path
    }
}
