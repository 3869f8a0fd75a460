#!/usr/bin/env bash
# Print one scenario of the check-scale family on stdout.
#   gen.sh ublk N   XFS on a ublk device with queue depth N (N handler
#                   threads) and N identical writers, write + fsync twice each
#   gen.sh loop N   N identical loop devices, each backed by a file on ext4
#                   and carrying its own XFS, one identical writer each
set -euo pipefail
kind="$1" n="$2"
case "$kind" in
ublk)
  cat <<TOML
name = "scale-ublk-qd$n"
description = "XFS on a ublk device (QD=$n) backed by a file on ext4; $n identical writers"

[memory]
free = 6
min = 4
low = 5
high = 6
batch = 2

[[disk]]
name = "sda"

[[daemon]]
name = "ublkb0"
kind = "ublk"
process = "ublk-server"
file = "ext4:/srv/ublk.img"
queue_depth = $n
threads = $n

[[fs]]
name = "ext4"
type = "ext4"
dev = "sda"
clean = 6
write_locks = ["ext4.journal"]

[[fs]]
name = "xfs"
type = "xfs"
dev = "ublkb0"
inodes = 4
dirty_inodes = 2

[[lock]]
name = "ext4.journal"
TOML
  for i in $(seq 1 "$n"); do
    printf '\n[[task]]\nname = "writer%d"\nfs = "xfs"\nprogram = ["write xfs:/data/f pages=1", "fsync xfs", "write xfs:/data/f pages=1", "fsync xfs"]\n' "$i"
  done
  ;;
loop)
  cat <<TOML
name = "scale-loop-$n"
description = "$n identical loop devices, each backed by a file on ext4 and carrying an XFS; one writer each"

[memory]
free = 6
min = 4
low = 5
high = 6
batch = 2

[[disk]]
name = "sda"

[[fs]]
name = "ext4"
type = "ext4"
dev = "sda"
clean = 6
write_locks = ["ext4.journal"]

[[lock]]
name = "ext4.journal"
TOML
  for i in $(seq 1 "$n"); do
    printf '\n[[loop]]\nname = "loop%d"\nfile = "ext4:/srv/img%d"\n' "$i" "$i"
    printf '\n[[fs]]\nname = "xfs%d"\ntype = "xfs"\ndev = "loop%d"\ninodes = 2\ndirty_inodes = 1\n' "$i" "$i"
    printf '\n[[task]]\nname = "writer%d"\nfs = "xfs%d"\nprogram = ["write xfs%d:/data/f pages=1", "fsync xfs%d"]\n' "$i" "$i" "$i" "$i"
  done
  ;;
*) echo "usage: gen.sh ublk|loop N" >&2; exit 2 ;;
esac
