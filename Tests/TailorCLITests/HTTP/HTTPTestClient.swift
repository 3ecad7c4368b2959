import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 client over a Unix socket or loopback TCP, for driving the daemon's
/// llama.cpp-compatible endpoint the way editor plugins do (curl-like, no URLSession: it cannot
/// reach a Unix socket) and for hanging up mid-stream.
final class HTTPTestClient {
    enum Target { case unix(String), tcp(UInt16) }

    struct Response {
        var status: Int
        var headers: [String: String]
        var body: String
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] }
        /// The `data:` payloads of a server-sent-event body.
        var events: [String] {
            body.components(separatedBy: "\n\n").compactMap { $0.hasPrefix("data: ") ? String($0.dropFirst(6)) : nil }
        }
    }

    let fd: Int32

    init(_ target: Target) throws {
        switch target {
        case let .unix(path):
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                for (i, b) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = b }
            }
            let r = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard r == 0 else { close(fd); throw CocoaError(.fileReadNoPermission) }
        case let .tcp(port):
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let r = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard r == 0 else { close(fd); throw CocoaError(.fileReadNoPermission) }
        }
        var tv = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Sends a request (Connection: close) without reading the answer.
    func send(
        _ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:], bodyBytes: Int? = nil,
        version: String = "1.1", withBody: Bool = true
    ) {
        var text = "\(method) \(path) HTTP/\(version)\r\nHost: localhost\r\nConnection: close\r\n"
        for (k, v) in headers { text += "\(k): \(v)\r\n" }
        if let body { text += "Content-Type: application/json\r\nContent-Length: \(bodyBytes ?? body.utf8.count)\r\n" }
        text += "\r\n" + (withBody ? body ?? "" : "")
        write(text)
    }

    /// Sends raw text.
    func write(_ text: String) {
        let bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    /// Reads up to `max` bytes of whatever arrives next ("" at the end).
    func readSome(_ max: Int = 65536) -> String {
        var buf = [UInt8](repeating: 0, count: max)
        let n = recv(fd, &buf, max, 0)
        return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : ""
    }

    /// Reads the whole response (the server closes after it) and decodes a chunked body.
    func readResponse() -> Response {
        var raw: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            raw += buf[0..<n]
        }
        let text = String(decoding: raw, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return Response(status: 0, headers: [:], body: text) }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        for l in lines.dropFirst() {
            if let c = l.firstIndex(of: ":") {
                headers[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)
            }
        }
        var body = String(text[split.upperBound...])
        if headers["transfer-encoding"] == "chunked" { body = Self.dechunk(body) }
        return Response(status: status, headers: headers, body: body)
    }

    static func dechunk(_ s: String) -> String {
        var out = Data(), rest = Data(s.utf8)
        while let crlf = rest.range(of: Data("\r\n".utf8)) {
            guard let size = Int(String(decoding: rest[rest.startIndex..<crlf.lowerBound], as: UTF8.self), radix: 16),
                size > 0
            else { break }
            let start = crlf.upperBound
            guard rest.distance(from: start, to: rest.endIndex) >= size else { break }
            out += rest[start..<rest.index(start, offsetBy: size)]
            rest = Data(
                rest[rest.index(start, offsetBy: min(size + 2, rest.distance(from: start, to: rest.endIndex)))...])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// One request, whole.
    static func call(
        _ target: Target, _ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]
    ) throws -> Response {
        let c = try HTTPTestClient(target)
        c.send(method, path, body: body, headers: headers)
        return c.readResponse()
    }
}
