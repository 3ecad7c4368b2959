/// The systemd units of tailord, rendered for an executable path. `systemd/` in the repository
/// holds them rendered for /usr/local/bin/tailord (a test keeps the two equal), and
/// `tailor daemon install --user` writes them for the binary actually installed.
public enum SystemdUnits {
    /// A unit file's path (relative to the units directory) and text.
    public struct Unit: Sendable, Equatable {
        /// The file name, e.g. "tailord.service".
        public var name: String
        /// The file's content.
        public var text: String
    }

    /// The path the committed units name.
    public static let defaultExecutable = "/usr/local/bin/tailord"

    /// Hardening shared by both modes: the daemon needs its state directory, its socket and the
    /// model files it reads, and nothing else.
    static let hardening = """
        NoNewPrivileges=yes
        PrivateTmp=yes
        ProtectSystem=strict
        ProtectHome=read-only
        ProtectControlGroups=yes
        ProtectKernelModules=yes
        ProtectKernelTunables=yes
        RestrictAddressFamilies=AF_UNIX
        RestrictNamespaces=yes
        RestrictRealtime=yes
        RestrictSUIDSGID=yes
        LockPersonality=yes
        MemoryDenyWriteExecute=yes
        SystemCallArchitectures=native
        SystemCallFilter=@system-service
        SystemCallErrorNumber=EPERM
        UMask=0077
        """

    /// The units for `mode`, starting `executable`.
    public static func units(mode: DaemonMode, executable: String = defaultExecutable) -> [Unit] {
        switch mode {
        case .user:
            return [
                Unit(
                    name: "tailord.socket",
                    text: """
                        [Unit]
                        Description=Tailor personalized LLM daemon (socket)

                        [Socket]
                        ListenStream=%t/tailor/tailord.sock
                        SocketMode=0600
                        DirectoryMode=0700

                        [Install]
                        WantedBy=sockets.target

                        """),
                Unit(
                    name: "tailord.service",
                    text: """
                        [Unit]
                        Description=Tailor personalized LLM daemon
                        Requires=tailord.socket
                        After=tailord.socket

                        [Service]
                        Type=notify
                        NotifyAccess=main
                        ExecStart=\(executable) --mode user
                        Restart=on-failure
                        WatchdogSec=60s
                        TimeoutStopSec=30s
                        ReadWritePaths=-%S/tailor
                        \(hardening)

                        [Install]
                        WantedBy=default.target

                        """),
            ]
        case .system:
            return [
                Unit(
                    name: "tailord.socket",
                    text: """
                        [Unit]
                        Description=Tailor personalized LLM daemon (socket)

                        [Socket]
                        ListenStream=/run/tailor/tailord.sock
                        SocketUser=tailor
                        SocketGroup=tailor
                        SocketMode=0660
                        DirectoryMode=0755

                        [Install]
                        WantedBy=sockets.target

                        """),
                Unit(
                    name: "tailord.service",
                    text: """
                        [Unit]
                        Description=Tailor personalized LLM daemon
                        Requires=tailord.socket
                        After=tailord.socket

                        [Service]
                        Type=notify
                        NotifyAccess=main
                        User=tailor
                        Group=tailor
                        ExecStart=\(executable) --mode system
                        StateDirectory=tailor
                        StateDirectoryMode=0750
                        Restart=on-failure
                        WatchdogSec=60s
                        TimeoutStopSec=30s
                        PrivateDevices=yes
                        ProtectHostname=yes
                        ProtectClock=yes
                        ProtectKernelLogs=yes
                        \(hardening)

                        [Install]
                        WantedBy=multi-user.target

                        """),
                Unit(
                    name: "sysusers.d/tailor.conf",
                    text: """
                        # sysusers.d(5): the account the system daemon runs as. Members of group
                        # tailor may use the daemon's socket.
                        g tailor -
                        u tailor -:tailor "Tailor daemon" /var/lib/tailor

                        """),
            ]
        }
    }
}
