#!/usr/bin/env bash
# Print one scenario of the check-scale family on stdout.
#   gen.sh ublk N   XFS on a ublk device with queue depth N (N handler
#                   threads) and N identical writers, write + fsync twice each
#   gen.sh loop N   N identical loop devices, each backed by a file on ext4
#                   and carrying its own XFS, one identical writer each
# The text is in $kind.toml.in, which the checker's tests read too
# (crates/check/tests/common/mod.rs): the lines before "# each writer" once
# with {n} = N, the lines after it once per i = 1..N with {i} = i.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
kind="${1:-}" n="${2:-}"
case "$kind" in
ublk | loop) ;;
*) echo "usage: gen.sh ublk|loop N" >&2; exit 2 ;;
esac
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "gen.sh: N must be a positive integer, not '$n'" >&2; exit 2; }
tpl="$here/$kind.toml.in"
sed -n '/^# each writer$/q; /^# /!p' "$tpl" | sed "s/{n}/$n/g"
for i in $(seq 1 "$n"); do
  echo
  sed -n '/^# each writer$/,$p' "$tpl" | tail -n +2 | sed "s/{i}/$i/g; s/{n}/$n/g"
done
