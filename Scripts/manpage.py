#!/usr/bin/env python3
"""Writes a man page (roff) for a swift-argument-parser command from its own description:
`tailor --experimental-dump-help` prints the whole command tree as JSON, and every subcommand
becomes a section with its abstract, usage and options. Reads the JSON on stdin.

    tailor --experimental-dump-help | Scripts/manpage.py > tailor.1
"""

import datetime
import json
import sys


def esc(text):
    """Text as roff reads it: backslashes doubled, a leading dot or quote guarded."""
    text = (text or "").replace("\\", "\\\\").replace("-", "\\-")
    lines = []
    for line in text.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def option_names(arg):
    names = []
    for n in arg.get("names", []):
        names.append(("-" if n["kind"] == "short" else "--") + n["name"])
    if not names:
        return "<%s>" % arg.get("valueName", "value")
    if arg.get("kind") == "option":
        return ", ".join(names) + " <%s>" % arg.get("valueName", "value")
    return ", ".join(names)


def section(cmd, path, out, top):
    name = " ".join(path)
    if not top:
        out.append(".SS %s" % esc(name))
    if cmd.get("abstract"):
        out.append(esc(cmd["abstract"]))
    if cmd.get("discussion"):
        out.append(".PP\n.nf\n%s\n.fi" % esc(cmd["discussion"]))
    args = [a for a in cmd.get("arguments", []) if a.get("shouldDisplay", True)]
    for a in args:
        out.append(".TP\n.B %s" % esc(option_names(a)))
        out.append(
            esc(a.get("abstract", "")) + (" (default: %s)" % esc(a["defaultValue"]) if a.get("defaultValue") else "")
        )
    for sub in cmd.get("subcommands", []):
        if sub.get("commandName") == "help":
            continue
        section(sub, path + [sub["commandName"]], out, False)


def main():
    tree = json.load(sys.stdin)["command"]
    name = tree["commandName"]
    date = datetime.date.today().isoformat()
    out = [
        '.TH %s 1 "%s" "%s" "User Commands"' % (name.upper(), date, name),
        ".SH NAME",
        "%s \\- %s" % (name, esc(tree.get("abstract", ""))),
        ".SH SYNOPSIS",
        ".B %s\n[\\fIsubcommand\\fR] [\\fIoptions\\fR]" % name,
        ".SH DESCRIPTION",
    ]
    section(tree, [name], out, True)
    out.append(".SH SEE ALSO\n%s \\-\\-help, %s help \\fIsubcommand\\fR" % (name, name))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
