import Foundation

/// The opt-in llama.cpp-compatible HTTP endpoint, for editor plugins that speak llama.cpp's
/// server API (llama.vim, llama.vscode, Continue, Tabby). Off unless a socket or a listen
/// address is configured.
public struct HTTPEndpointConfiguration: Sendable, Equatable {
    /// A Unix socket path to serve HTTP on (the peer is identified by SO_PEERCRED).
    public var socket: String?
    /// A loopback TCP address ("127.0.0.1:8012", "[::1]:8012"); only loopback is accepted.
    public var listen: (host: String, port: Int)? {
        get { listenHost.map { ($0, listenPort) } }
        set { listenHost = newValue?.host; listenPort = newValue?.port ?? 0 }
    }
    var listenHost: String?
    var listenPort = 0
    /// The file holding the bearer token TCP requests must send (TCP has no peer credentials).
    public var tokenFile: String?
    /// The decoding mode requests are served in (base, tam, oppu, dpo-only, cope, cd-only).
    public var mode = "cope"
    /// The personalization user requests are served for (default: the daemon user's login name).
    public var user: String?
    /// The task whose adapters apply; a request may name another with the X-Tailor-Task header.
    public var task = "code"
    /// The largest request body accepted.
    public var maxBodyBytes = 4 << 20
    /// How long a connection may take to send a request's head, counted from the connection's
    /// start or the end of the previous response (`http_header_timeout_seconds`): a client
    /// that opens a socket and sends nothing is closed after it.
    public var headerTimeout: Duration = .seconds(10)
    /// How long a request's body may take to arrive after its head (`http_body_timeout_seconds`).
    public var bodyTimeout: Duration = .seconds(30)
    /// Other names of the default model, as llama-server's `--alias a,b` (`http_model_alias`):
    /// /v1/models lists the first in order as its id, and requests may name any of them.
    public var aliases: [String] = []
    /// Labels /v1/models shows for the default model (`http_model_tags`, as llama-server's `--tags`).
    public var tags: [String] = []
    /// Whether GET /slots answers (`http_slots`); off, as it tells one caller about the others'
    /// generations (only their counts and states, never their text).
    public var slotsEndpoint = false
    /// The seed of requests that give none (`http_seed`); nil draws one per request.
    public var seed: UInt64?

    /// Off.
    public init() {}

    /// Whether anything listens.
    public var isEnabled: Bool { socket != nil || listenHost != nil }

    /// Applies one `http_*` config key; false when `key` is not one of them.
    /// - Throws: a message naming the problem, which the config reader places at its line.
    mutating func apply(key: String, value: String) throws -> Bool {
        let v = ConfigValue(key: key, text: value)
        switch key {
        case "http_socket": socket = try v.absolutePath()
        case "http_listen":
            guard let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]),
                (1...65535).contains(port)
            else {
                throw ConfigProblem("http_listen must be host:port, e.g. 127.0.0.1:8012")
            }
            var host = String(value[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard ["127.0.0.1", "::1", "localhost"].contains(host) else {
                throw ConfigProblem(
                    "http_listen must be a loopback address (127.0.0.1, ::1 or localhost), not '\(host)'")
            }
            listenHost = host
            listenPort = port
        case "http_token_file": tokenFile = try v.absolutePath()
        case "http_mode":
            guard DecodingMode(rawValue: value) != nil, !value.isEmpty else {
                throw ConfigProblem("http_mode must be \(DecodingMode.spelled)")
            }
            mode = value
        case "http_user": user = value
        case "http_task": task = value
        case "http_header_timeout_seconds": headerTimeout = .seconds(try v.int(1...3600))
        case "http_body_timeout_seconds": bodyTimeout = .seconds(try v.int(1...3600))
        case "http_model_alias": aliases = v.list
        case "http_model_tags": tags = v.list
        case "http_slots": slotsEndpoint = try v.flag()
        case "http_seed":  // -1: a random seed per request
            let n = try v.int(-1...Int(UInt32.max))
            seed = n < 0 ? nil : UInt64(n)
        case "http_max_body_bytes": maxBodyBytes = try v.int(1024...(1 << 30))
        default:
            return false
        }
        return true
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.socket == b.socket && a.listenHost == b.listenHost && a.listenPort == b.listenPort
            && a.tokenFile == b.tokenFile
            && a.mode == b.mode && a.user == b.user && a.task == b.task && a.maxBodyBytes == b.maxBodyBytes
            && a.headerTimeout == b.headerTimeout && a.bodyTimeout == b.bodyTimeout && a.aliases == b.aliases
            && a.tags == b.tags
            && a.slotsEndpoint == b.slotsEndpoint && a.seed == b.seed
    }
}
