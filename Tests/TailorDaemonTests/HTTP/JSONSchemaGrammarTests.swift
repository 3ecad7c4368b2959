import Foundation
import XCTest

@testable import TailorDaemon
@testable import TailorEngine

/// JSON schemas compiled to grammars: documents the schema accepts match, others do not.
final class JSONSchemaGrammarTests: XCTestCase {
    private func grammar(_ schemaJSON: String) throws -> Grammar {
        let schema = try JSONSerialization.jsonObject(with: Data(schemaJSON.utf8), options: .fragmentsAllowed)
        return try Grammar(gbnf: JSONSchemaGrammar.gbnf(schema: schema))
    }

    private func matches(_ g: Grammar, _ text: String) -> Bool {
        var m = GrammarMatcher(g)
        return m.accept(Array(text.utf8)) && m.canEnd
    }

    private func check(_ schema: String, pass: [String], fail: [String], line: UInt = #line) throws {
        let g = try grammar(schema)
        for d in pass { XCTAssertTrue(matches(g, d), "\(schema) should accept \(d)", line: line) }
        for d in fail { XCTAssertFalse(matches(g, d), "\(schema) should refuse \(d)", line: line) }
    }

    func testAnyObjectIsJSON() throws {
        let g = try Grammar(gbnf: JSONSchemaGrammar.anyObject)
        for d in [#"{}"#, #"{"a": [1, -2.5e3, true, null, "x\"y\u00e9"], "b": {"c": {}}}"#, "{\n  \"k\": \"v\"\n}"] {
            XCTAssertTrue(matches(g, d), d)
        }
        for d in [#"{a: 1}"#, #"[1]"#, #"{"a": 01}"#, #"{"a": "x"#, #"{"a": tru}"#, #""s""#] {
            XCTAssertFalse(matches(g, d), d)
        }
    }

    func testConstEnumAndTypes() throws {
        try check(#"{"const": "foooooo"}"#, pass: [#""foooooo""#], fail: [#""foo""#, "foooooo"])
        try check(#"{"enum": ["red", 3, null]}"#, pass: [#""red""#, "3", "null"], fail: [#""blue""#, "4"])
        try check(#"{"type": "integer"}"#, pass: ["0", "-12"], fail: ["1.5", "01", #""1""#])
        try check(#"{"type": ["number", "null"]}"#, pass: ["1.5", "-2e10", "null"], fail: ["true"])
        try check(#"{"type": "string", "maxLength": 3}"#, pass: [#""""#, #""abc""#], fail: [#""abcd""#])
    }

    func testObjectsKeepRequiredPropertiesAndAllowOptionalOnes() throws {
        let schema = #"""
            {"type": "object", "properties": {"age": {"type": "integer"}, "name": {"type": "string"},
             "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2}}, "required": ["name"]}
            """#
        try check(
            schema,
            pass: [
                #"{"name": "Ada"}"#, #"{"name": "Ada", "age": 36}"#, #"{"name": "Ada", "tags": ["x", "y"]}"#,
                #"{"name": "Ada", "age": 1, "tags": []}"#,
            ],
            fail: [
                #"{}"#, #"{"age": 36}"#, #"{"name": 1}"#, #"{"name": "A", "tags": ["a", "b", "c"]}"#,
                #"{"name": "A", "other": 1}"#,
            ])
    }

    func testReferencesAndAlternatives() throws {
        let schema = #"""
            {"$defs": {"node": {"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#/$defs/node"},
             {"type": "null"}]}}, "required": ["next"]}}, "$ref": "#/$defs/node"}
            """#
        try check(schema, pass: [#"{"next": null}"#, #"{"next": {"next": null}}"#], fail: [#"{"next": 1}"#])
    }

    func testInvalidAndUnsupportedSchemasAreNamed() {
        func problem(_ json: String) -> String? {
            do { _ = try grammar(json); return nil } catch { return "\(error)" }
        }
        XCTAssertEqual(problem(#"{"type": 123}"#), "JSON schema at $: 'type' must be a string or a list of strings")
        XCTAssertEqual(problem(#"{"type": "hiccup"}"#), "JSON schema at $: unknown type 'hiccup'")
        XCTAssertEqual(problem("123"), "JSON schema at $: a schema must be an object")
        XCTAssertEqual(
            problem(#"{"properties": {"a": {"type": "string", "pattern": "^x"}}}"#),
            "JSON schema at $.properties.a: 'pattern' is not supported")
        XCTAssertEqual(
            problem(##"{"$ref": "#/$defs/missing"}"##),
            "JSON schema at $: '#/$defs/missing' names nothing in the schema")
        XCTAssertNotNil(
            problem(String(repeating: #"{"items": "#, count: 100) + "{}" + String(repeating: "}", count: 100)))
    }
}
