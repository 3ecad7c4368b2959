#!/usr/bin/env bash
# Installs Tailor for the current user, as a desktop user expects it: tailor and tailord on
# PATH, shell completions, man pages, the systemd user units with a model named in
# tailord.conf (the socket enabled where systemd runs), and the Neovim plugin.
#
#   Scripts/install.sh [--prefix ~/.local] [--from DIR] [--no-enable]
#   Scripts/install.sh --uninstall [--prefix ~/.local]
#
# --from DIR takes tailor and tailord from DIR instead of building them (swift build -c release).
# --no-enable writes the units without running systemctl. The model is the one
# Scripts/fetch-model.sh installs ($TAILOR_MODEL overrides). --uninstall removes what this
# script installed (recorded in PREFIX/share/tailor/installed-files) and disables the socket;
# tailord.conf and the daemon's data (adapters, preference data) are kept.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix="$HOME/.local"
from=""
enable=1
uninstall=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --from) from="$2"; shift 2 ;;
    --no-enable) enable=0; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 64 ;;
  esac
done
case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac
share="$prefix/share/tailor"
manifest="$share/installed-files"
units="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"
user_systemd() {
  [ "$enable" = 1 ] && command -v systemctl >/dev/null && systemctl --user show-environment >/dev/null 2>&1
}

if [ "$uninstall" = 1 ]; then
  [ -f "$manifest" ] || { echo "nothing installed under $prefix (no $manifest)" >&2; exit 1; }
  if user_systemd; then systemctl --user disable --now tailord.socket tailord.service 2>/dev/null || true; fi
  while IFS= read -r f; do rm -rf -- "$f"; done < "$manifest"
  rm -f -- "$manifest"
  rmdir -- "$share" 2>/dev/null || true
  if user_systemd; then systemctl --user daemon-reload || true; fi
  echo "removed Tailor from $prefix; kept tailord.conf and the daemon's data (\$XDG_STATE_HOME/tailor)"
  exit 0
fi

if [ -z "$from" ]; then
  swift build -c release
  from=.build/release
fi
for exe in tailor tailord; do
  [ -x "$from/$exe" ] || { echo "install.sh: no $exe in $from" >&2; exit 1; }
done

mkdir -p "$share"
: > "$manifest.new"
put() { # put SOURCE DEST MODE: copies and records one file
  mkdir -p "$(dirname "$2")"
  install -m "$3" "$1" "$2"
  echo "$2" >> "$manifest.new"
}
put "$from/tailor" "$prefix/bin/tailor" 755
put "$from/tailord" "$prefix/bin/tailord" 755
tailor="$prefix/bin/tailor"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$tailor" --generate-completion-script bash > "$tmp/tailor.bash"
"$tailor" --generate-completion-script zsh > "$tmp/_tailor"
"$tailor" --generate-completion-script fish > "$tmp/tailor.fish"
put "$tmp/tailor.bash" "$prefix/share/bash-completion/completions/tailor" 644
put "$tmp/_tailor" "$prefix/share/zsh/site-functions/_tailor" 644
put "$tmp/tailor.fish" "$prefix/share/fish/vendor_completions.d/tailor.fish" 644
for exe in tailor tailord; do
  "$prefix/bin/$exe" --experimental-dump-help | python3 Scripts/manpage.py > "$tmp/$exe.1"
  put "$tmp/$exe.1" "$prefix/share/man/man1/$exe.1" 644
done

rm -rf "$share/nvim"
cp -r Clients/nvim "$share/nvim"
echo "$share/nvim" >> "$manifest.new"

if user_systemd; then
  "$tailor" daemon install --user --executable "$prefix/bin/tailord"
else
  "$tailor" daemon install --user --no-enable --executable "$prefix/bin/tailord"
  [ "$enable" = 1 ] && echo "systemd --user is not running here: start the daemon with \`tailor daemon run &\`"
fi
echo "$units/tailord.socket" >> "$manifest.new"
echo "$units/tailord.service" >> "$manifest.new"
mv "$manifest.new" "$manifest"

echo "installed tailor and tailord in $prefix/bin, completions, man pages, and the Neovim plugin in $share/nvim"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "add $prefix/bin to PATH, e.g. echo 'export PATH=\"$prefix/bin:\$PATH\"' >> ~/.profile" ;;
esac
echo "Neovim: { dir = \"$share/nvim\", config = function() require(\"tailor\").setup({}) end }" \
  "(lazy.nvim; docs/editors.md)"
