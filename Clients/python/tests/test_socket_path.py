"""Where the Python client looks for tailord, as the Swift client does (SocketLocation)."""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tailor_client.client import default_socket_path  # noqa: E402


class SocketPathTests(unittest.TestCase):
    def test_flag_environment_runtime_directory_then_system(self):
        self.assertEqual(default_socket_path("/x.sock", {"TAILOR_SOCKET": "/y.sock"}), "/x.sock")
        self.assertEqual(default_socket_path(None, {"TAILOR_SOCKET": "/y.sock"}), "/y.sock")
        self.assertEqual(
            default_socket_path(None, {"XDG_RUNTIME_DIR": "/run/user/7"}), "/run/user/7/tailor/tailord.sock"
        )
        with tempfile.TemporaryDirectory() as root:
            self.assertEqual(default_socket_path(None, {}, fallback_root=root), "/run/tailor/tailord.sock")

    def test_the_tmp_fallback_is_trusted_only_when_private(self):
        uid = os.getuid()
        with tempfile.TemporaryDirectory() as root:
            private = os.path.join(root, "tailor-%d" % uid)
            os.mkdir(private, 0o700)
            open(os.path.join(private, "tailord.sock"), "w").close()
            self.assertEqual(default_socket_path(None, {}, fallback_root=root), os.path.join(private, "tailord.sock"))
            os.chmod(private, 0o755)  # another user could have swapped the socket
            self.assertEqual(default_socket_path(None, {}, fallback_root=root), "/run/tailor/tailord.sock")
            theirs = os.path.join(root, "tailor-%d" % (uid + 1))
            os.mkdir(theirs, 0o700)
            open(os.path.join(theirs, "tailord.sock"), "w").close()
            self.assertEqual(
                default_socket_path(None, {}, uid=uid + 1, fallback_root=root),
                "/run/tailor/tailord.sock",
                "uid+1's directory, but made by us: not trusted",
            )


if __name__ == "__main__":
    unittest.main()
