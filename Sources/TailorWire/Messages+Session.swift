import CProtobufC
import TailorWireC

/// The protocol version this build speaks (Proto/README.md).
public let tailorProtocolVersion: UInt32 = 1

/// Session.Hello's request: the range of protocol versions a client speaks.
public struct HelloRequest: Sendable, Equatable {
    /// Oldest version the client speaks.
    public var minVersion: UInt32
    /// Newest version the client speaks.
    public var maxVersion: UInt32
    /// Client name and version, for logs.
    public var client: String

    /// A Hello for versions `minVersion...maxVersion`.
    public init(minVersion: UInt32 = tailorProtocolVersion, maxVersion: UInt32 = tailorProtocolVersion, client: String)
    {
        self.minVersion = minVersion
        self.maxVersion = maxVersion
        self.client = client
    }

    /// The version to speak with a server whose newest version is `serverMax`, or nil when the
    /// ranges do not meet.
    public func negotiate(serverMin: UInt32 = 1, serverMax: UInt32 = tailorProtocolVersion) -> UInt32? {
        let v = min(maxVersion, serverMax)
        return v >= max(minVersion, serverMin) ? v : nil
    }

    /// Serialized `tailor.v1.HelloRequest`.
    public func serialized() throws -> [UInt8] {
        let arena = CMessageArena()
        let m = arena.make(Tailor__V1__HelloRequest.self)
        tailor__v1__hello_request__init(m)
        m.pointee.min_version = minVersion
        m.pointee.max_version = maxVersion
        m.pointee.client = try arena.cString(client, field: "hello.client")
        return CMessageReader.pack(
            UnsafePointer(m), size: tailor__v1__hello_request__get_packed_size,
            pack: tailor__v1__hello_request__pack)
    }

    /// Parses a serialized `tailor.v1.HelloRequest`.
    public init(serialized bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in
            try CMessageReader.read(
                raw, type: "tailor.v1.HelloRequest", unpack: tailor__v1__hello_request__unpack,
                free: tailor__v1__hello_request__free_unpacked
            ) { m, r in
                HelloRequest(
                    minVersion: m.pointee.min_version, maxVersion: m.pointee.max_version,
                    client: try r.string(m.pointee.client, field: "hello.client"))
            }
        }
    }
}

/// Session.Hello's response: the version chosen and the server's limits.
public struct HelloResponse: Sendable, Equatable {
    /// The version both sides speak from now on.
    public var version: UInt32
    /// Server name and version.
    public var server: String
    /// Largest frame body the server accepts.
    public var maxFrameBytes: UInt32
    /// Concurrent streams allowed on the connection.
    public var maxStreams: UInt32

    /// A response choosing `version`.
    public init(
        version: UInt32, server: String, maxFrameBytes: UInt32 = UInt32(FrameCodec.maxFrameBytes), maxStreams: UInt32
    ) {
        self.version = version
        self.server = server
        self.maxFrameBytes = maxFrameBytes
        self.maxStreams = maxStreams
    }

    /// Serialized `tailor.v1.HelloResponse`.
    public func serialized() throws -> [UInt8] {
        let arena = CMessageArena()
        let m = arena.make(Tailor__V1__HelloResponse.self)
        tailor__v1__hello_response__init(m)
        m.pointee.version = version
        m.pointee.server = try arena.cString(server, field: "hello.server")
        m.pointee.max_frame_bytes = maxFrameBytes
        m.pointee.max_streams = maxStreams
        return CMessageReader.pack(
            UnsafePointer(m), size: tailor__v1__hello_response__get_packed_size,
            pack: tailor__v1__hello_response__pack)
    }

    /// Parses a serialized `tailor.v1.HelloResponse`.
    public init(serialized bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in
            try CMessageReader.read(
                raw, type: "tailor.v1.HelloResponse", unpack: tailor__v1__hello_response__unpack,
                free: tailor__v1__hello_response__free_unpacked
            ) { m, r in
                HelloResponse(
                    version: m.pointee.version, server: try r.string(m.pointee.server, field: "hello.server"),
                    maxFrameBytes: m.pointee.max_frame_bytes, maxStreams: m.pointee.max_streams)
            }
        }
    }
}
