import Foundation
import TailorEngine
import TailorWire

/// Compiles a JSON schema into GBNF, as llama.cpp's server does for `json_schema` and
/// `response_format`, so the same grammar engine constrains both.
///
/// Handled: `type` (one or a list), `const`, `enum`, `anyOf`/`oneOf`, a one-schema `allOf`,
/// `$ref` into `$defs` or `definitions`, `properties` with `required`, `additionalProperties`
/// (a schema, for objects without `properties`), `items`, `minItems`/`maxItems` and
/// `minLength`/`maxLength`. Properties come in the schema's order, required before optional,
/// and only those named when there are any. `format`, `title`, `description` and the like
/// constrain nothing. What would need more (`pattern`, `not`, numeric bounds) is refused by
/// name rather than silently ignored.
enum JSONSchemaGrammar {
    /// Any JSON object: `response_format: {"type": "json_object"}`.
    static let anyObject = primitives.map(\.value).joined(separator: "\n") + "\nroot ::= object\n"

    /// GBNF for documents `schema` accepts.
    /// - Throws: `GrammarError.schema` naming the unsupported or invalid part and its path.
    static func gbnf(schema: Any) throws -> String {
        var builder = Builder(root: schema)
        let root = try builder.visit(schema, path: "$")
        return builder.rules.joined(separator: "\n") + "\nroot ::= \(root)\n"
    }

    /// The building blocks, named as in llama.cpp's generated grammars.
    static let primitives: [(key: String, value: String)] = [
        ("space", #"space ::= | " " | "\n"{1,2} [ \t]{0,20}"#),
        ("char", #"char ::= [^"\\\x7F\x00-\x1F] | [\\] (["\\bfnrt/] | "u" [0-9a-fA-F]{4})"#),
        ("string", #"string ::= "\"" char* "\"" space"#),
        ("integral", #"integral ::= "-"? ([0-9] | [1-9] [0-9]{1,15})"#),
        ("integer", #"integer ::= integral space"#),
        ("number", #"number ::= integral ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})? space"#),
        ("boolean", #"boolean ::= ("true" | "false") space"#),
        ("null", #"null ::= "null" space"#),
        ("value", #"value ::= object | array | string | number | boolean | null"#),
        ("object", #"object ::= "{" space (string ":" space value ("," space string ":" space value)*)? "}" space"#),
        ("array", #"array ::= "[" space (value ("," space value)*)? "]" space"#),
    ].map { (key: $0.0, value: $0.1) }

    /// A GBNF string literal matching exactly `text`.
    static func literal(_ text: String) -> String {
        var out = "\""
        for u in text.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || u.value == 0x7F: out += String(format: "\\x%02X", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    private struct Builder {
        let root: Any
        var rules: [String] = []
        private var named: Set<String> = []
        private var references: [String: String] = [:]
        private var count = 0
        /// Schemas nest at most this deep (a client's schema is untrusted).
        static let maxDepth = 64

        init(root: Any) { self.root = root }

        mutating func visit(_ schema: Any, path: String, depth: Int = 0) throws -> String {
            guard depth < Self.maxDepth else { throw GrammarError.schema("nested too deeply", path: path) }
            if let flag = schema as? Bool, !(schema is NSNumber && !isBoolean(schema)) {
                guard flag else { throw GrammarError.schema("'false' accepts nothing", path: path) }
                return use("value")
            }
            guard let s = schema as? [String: Any] else {
                throw GrammarError.schema("a schema must be an object", path: path)
            }
            for key in [
                "pattern", "not", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                "multipleOf", "patternProperties", "if", "uniqueItems", "prefixItems", "contains",
            ]
            where s[key] != nil {
                throw GrammarError.schema("'\(key)' is not supported", path: path)
            }
            if let ref = s["$ref"] { return try reference(ref, path: path, depth: depth) }
            if let value = s["const"] { return try constant(value, path: path + ".const") }
            if let values = s["enum"] {
                guard let list = values as? [Any], !list.isEmpty else {
                    throw GrammarError.schema("'enum' must be a non-empty array", path: path)
                }
                return "("
                    + (try list.enumerated().map { try constant($1, path: "\(path).enum[\($0)]") })
                    .joined(separator: " | ") + ")"
            }
            for key in ["anyOf", "oneOf", "allOf"] where s[key] != nil {
                guard let list = s[key] as? [Any], !list.isEmpty else {
                    throw GrammarError.schema("'\(key)' must be a non-empty array", path: path)
                }
                if key == "allOf" && list.count > 1 {
                    throw GrammarError.schema("'allOf' with more than one schema is not supported", path: path)
                }
                let parts = try list.enumerated().map {
                    try visit($1, path: "\(path).\(key)[\($0)]", depth: depth + 1)
                }
                return "(" + parts.joined(separator: " | ") + ")"
            }
            switch s["type"] {
            case nil:
                if s["properties"] != nil { return try object(s, path: path, depth: depth) }
                if s["items"] != nil || s["prefixItems"] != nil { return try array(s, path: path, depth: depth) }
                return use("value")
            case let name as String:
                return try typed(name, s, path: path, depth: depth)
            case let names as [Any]:
                let parts = try names.map { n -> String in
                    guard let n = n as? String else { throw GrammarError.schema("'type' must name types", path: path) }
                    return try typed(n, s, path: path, depth: depth)
                }
                guard !parts.isEmpty else { throw GrammarError.schema("'type' is an empty list", path: path) }
                return "(" + parts.joined(separator: " | ") + ")"
            default:
                throw GrammarError.schema("'type' must be a string or a list of strings", path: path)
            }
        }

        private mutating func typed(_ name: String, _ s: [String: Any], path: String, depth: Int) throws -> String {
            switch name {
            case "object": return try object(s, path: path, depth: depth)
            case "array": return try array(s, path: path, depth: depth)
            case "string": return try string(s, path: path)
            case "integer", "number", "boolean", "null": return use(name)
            default:
                throw GrammarError.schema("unknown type '\(name)'", path: path)
            }
        }

        private mutating func string(_ s: [String: Any], path: String) throws -> String {
            let low = try bound(s["minLength"], "minLength", path: path) ?? 0
            let high = try bound(s["maxLength"], "maxLength", path: path)
            guard low > 0 || high != nil else { return use("string") }
            _ = use("char")
            return "\"\\\"\" char{\(low),\(high.map(String.init) ?? "")} \"\\\"\" " + use("space")
        }

        private mutating func array(_ s: [String: Any], path: String, depth: Int) throws -> String {
            // A tuple: `prefixItems`, or `items` as a list (the older drafts' form).
            if let tuple = (s["prefixItems"] ?? s["items"]) as? [Any] {
                let space = use("space")
                let items = try tuple.enumerated().map { try visit($1, path: "\(path).items[\($0)]", depth: depth + 1) }
                return "\"[\" \(space) " + items.joined(separator: " \",\" \(space) ") + " \"]\" \(space)"
            }
            let item = try s["items"].map { try visit($0, path: path + ".items", depth: depth + 1) } ?? use("value")
            let low = try bound(s["minItems"], "minItems", path: path) ?? 0
            let high = try bound(s["maxItems"], "maxItems", path: path)
            if let h = high, h < low { throw GrammarError.schema("maxItems is below minItems", path: path) }
            let space = use("space")
            let open = "\"[\" \(space)"
            let close = "\"]\" \(space)"
            if high == 0 { return "\(open) \(close)" }
            let more = "(\",\" \(space) \(item)){\(max(low - 1, 0)),\(high.map { String($0 - 1) } ?? "")}"
            let body = "\(item) \(more)"
            return low > 0 ? "\(open) \(body) \(close)" : "\(open) (\(body))? \(close)"
        }

        private mutating func object(_ s: [String: Any], path: String, depth: Int) throws -> String {
            let space = use("space")
            guard let properties = s["properties"] else {
                if let extra = s["additionalProperties"], !(extra is Bool) {
                    let value = try visit(extra, path: path + ".additionalProperties", depth: depth + 1)
                    let kv = "\(use("string")) \":\" \(space) \(value)"
                    return "\"{\" \(space) (\(kv) (\",\" \(space) \(kv))*)? \"}\" \(space)"
                }
                return use("object")
            }
            guard let props = properties as? [String: Any] else {
                throw GrammarError.schema("'properties' must be an object", path: path)
            }
            let required = Set((s["required"] as? [Any] ?? []).compactMap { $0 as? String })
            // The schema's own order (JSONSerialization keeps none: the keys' order in the text
            // is not recoverable), so properties are sorted for a stable grammar.
            let names = props.keys.sorted()
            var mandatory: [String] = []
            var optional: [String] = []
            for name in names {
                let value = try visit(props[name]!, path: "\(path).properties.\(name)", depth: depth + 1)
                let kv = "\(JSONSchemaGrammar.literal(Self.json(name))) \(space) \":\" \(space) \(value)"
                if required.contains(name) { mandatory.append(kv) } else { optional.append(kv) }
            }
            // Any subset of the optional ones, in order: opt_i ::= kv_i ("," opt_(i+1))? | opt_(i+1).
            var tail: String?
            for kv in optional.reversed() {
                let body = tail.map { "\(kv) (\",\" \(space) \($0))? | \($0)" } ?? kv
                tail = define(body)
            }
            let comma = " \",\" \(space) "
            var inner = mandatory.joined(separator: comma)
            if let t = tail { inner = inner.isEmpty ? "(\(t))?" : "\(inner) (\(comma)\(t))?" }
            return "\"{\" \(space) \(inner) \"}\" \(space)"
        }

        private mutating func reference(_ ref: Any, path: String, depth: Int) throws -> String {
            guard let ref = ref as? String else { throw GrammarError.schema("'$ref' must be a string", path: path) }
            if let rule = references[ref] { return rule }
            var target: Any = root
            let parts = ref.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.first == "#" else {
                throw GrammarError.schema("only local references (#/...) are supported, not '\(ref)'", path: path)
            }
            for part in parts.dropFirst() {
                guard let next = (target as? [String: Any])?[String(part)] else {
                    throw GrammarError.schema("'\(ref)' names nothing in the schema", path: path)
                }
                target = next
            }
            count += 1
            let rule = "ref-\(count)"
            references[ref] = rule
            let body = try visit(target, path: ref, depth: depth + 1)
            rules.append("\(rule) ::= \(body)")
            return rule
        }

        private mutating func constant(_ value: Any, path: String) throws -> String {
            guard JSONSerialization.isValidJSONObject([value]),
                let data = try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys]),
                let text = String(data: data, encoding: .utf8)
            else { throw GrammarError.schema("not a JSON value", path: path) }
            // Encoded inside an array so that scalars encode; the brackets are dropped.
            return "\(JSONSchemaGrammar.literal(String(text.dropFirst().dropLast()))) \(use("space"))"
        }

        private func bound(_ value: Any?, _ name: String, path: String) throws -> Int? {
            guard let value else { return nil }
            guard let n = value as? NSNumber, !isBoolean(n), let v = Int(exactly: n.doubleValue), v >= 0,
                v <= Grammar.maxRepetition
            else {
                throw GrammarError.schema("'\(name)' must be an integer in 0...\(Grammar.maxRepetition)", path: path)
            }
            return v
        }

        /// The name of a primitive rule, added with the rules it uses on first use.
        private mutating func use(_ name: String) -> String {
            guard !named.contains(name) else { return name }
            named.insert(name)
            let dependencies: [String: [String]] = [
                "string": ["char", "space"], "integer": ["integral", "space"], "number": ["integral", "space"],
                "boolean": ["space"], "null": ["space"],
                "value": ["object", "array", "string", "number", "boolean", "null"],
                "object": ["string", "space", "value"], "array": ["value", "space"],
            ]
            rules.append(primitives.first { $0.key == name }!.value)
            for d in dependencies[name] ?? [] { _ = use(d) }
            return name
        }

        private mutating func define(_ body: String) -> String {
            count += 1
            rules.append("part-\(count) ::= \(body)")
            return "part-\(count)"
        }

        private static func json(_ s: String) -> String {
            let data = try! JSONSerialization.data(withJSONObject: [s])
            return String(String(data: data, encoding: .utf8)!.dropFirst().dropLast())
        }

        private func isBoolean(_ v: Any) -> Bool { (v as? NSNumber)?.isJSONBoolean == true }
    }
}
