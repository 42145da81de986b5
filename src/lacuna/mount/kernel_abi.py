"""The FUSE kernel protocol's numbers and structs (``include/uapi/linux/fuse.h``, protocol 7.40).

Why our own copy: the system's ``linux/fuse.h`` here is 7.38, and 7.40 added what passthrough
needs (the ``FUSE_PASSTHROUGH`` init flag, ``fuse_init_out.max_stack_depth``,
``fuse_open_out.backing_id``, ``FOPEN_PASSTHROUGH`` and the backing ioctls). Only what
:mod:`lacuna.mount.kernel` speaks is here; every layout is little-endian-native as the kernel's
(``struct`` format ``=``: native byte order, no padding, so the sizes below are the C sizes).
"""

from __future__ import annotations

import struct

KERNEL_MAJOR = 7
KERNEL_MINOR = 40  # the first with passthrough; we speak no later feature
ROOT_ID = 1
MIN_READ_BUFFER = 8192  # the kernel refuses a read() of /dev/fuse with a smaller buffer

# -- opcodes -------------------------------------------------------------------------------------
LOOKUP, FORGET, GETATTR, SETATTR, READLINK, SYMLINK = 1, 2, 3, 4, 5, 6
MKNOD, MKDIR, UNLINK, RMDIR, RENAME, LINK, OPEN, READ, WRITE = 8, 9, 10, 11, 12, 13, 14, 15, 16
STATFS, RELEASE, FSYNC, FLUSH, INIT = 17, 18, 20, 25, 26
OPENDIR, READDIR, RELEASEDIR, FSYNCDIR, ACCESS, CREATE, INTERRUPT = 27, 28, 29, 30, 34, 35, 36
DESTROY, BATCH_FORGET, RENAME2 = 38, 42, 45

# -- init flags (bits 32.. travel in flags2) -------------------------------------------------------
ASYNC_READ = 1 << 0
ATOMIC_O_TRUNC = 1 << 3
BIG_WRITES = 1 << 5
AUTO_INVAL_DATA = 1 << 12
PARALLEL_DIROPS = 1 << 18
MAX_PAGES = 1 << 22
INIT_EXT = 1 << 30
PASSTHROUGH = 1 << 37
MAX_STACK_DEPTH = 2  # FILESYSTEM_MAX_STACK_DEPTH: the backing may itself be stacked (overlayfs)

# -- open reply flags ----------------------------------------------------------------------------
FOPEN_KEEP_CACHE = 1 << 1
FOPEN_PASSTHROUGH = 1 << 7

# -- setattr valid bits, getattr/fsync flags -------------------------------------------------------
FATTR_MODE, FATTR_UID, FATTR_GID, FATTR_SIZE = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FATTR_ATIME, FATTR_MTIME, FATTR_FH = 1 << 4, 1 << 5, 1 << 6
FATTR_ATIME_NOW, FATTR_MTIME_NOW = 1 << 7, 1 << 8
GETATTR_FH = 1 << 0
FSYNC_FDATASYNC = 1 << 0

# -- ioctls on /dev/fuse -------------------------------------------------------------------------
# _IOW(229, 1, struct fuse_backing_map) and _IOW(229, 2, uint32_t)
DEV_IOC_BACKING_OPEN = 0x4010E501
DEV_IOC_BACKING_CLOSE = 0x4004E502

# -- structs ---------------------------------------------------------------------------------------
IN_HEADER = struct.Struct("=IIQQIIIHH")  # len opcode unique nodeid uid gid pid total_extlen pad
OUT_HEADER = struct.Struct("=IiQ")  # len error(-errno) unique
INIT_IN = struct.Struct("=IIIII")  # major minor max_readahead flags flags2 (then unused[11])
# major minor max_readahead flags max_background congestion_threshold max_write time_gran
# max_pages map_alignment flags2 max_stack_depth request_timeout unused[11]
INIT_OUT = struct.Struct("=IIIIHHIIHHIIH22x")
# ino size blocks atime mtime ctime atimensec mtimensec ctimensec mode nlink uid gid rdev
# blksize flags
ATTR = struct.Struct("=QQQQQQIIIIIIIIII")
ENTRY_OUT = struct.Struct("=QQQQII")  # nodeid generation entry_valid attr_valid (+nsecs); attr
ATTR_OUT = struct.Struct("=QII")  # attr_valid attr_valid_nsec dummy; then attr
GETATTR_IN = struct.Struct("=IIQ")  # getattr_flags dummy fh
# valid padding fh size lock_owner atime mtime ctime atimensec mtimensec ctimensec mode
# unused4 uid gid unused5
SETATTR_IN = struct.Struct("=IIQQQQQQIIIIIIII")
OPEN_IN = struct.Struct("=II")  # flags open_flags
OPEN_OUT = struct.Struct("=QIi")  # fh open_flags backing_id
CREATE_IN = struct.Struct("=IIII")  # flags mode umask open_flags; then name
MKNOD_IN = struct.Struct("=IIII")  # mode rdev umask padding; then name
MKDIR_IN = struct.Struct("=II")  # mode umask; then name
RENAME_IN = struct.Struct("=Q")  # newdir; then oldname, newname
RENAME2_IN = struct.Struct("=QII")  # newdir flags padding; then oldname, newname
LINK_IN = struct.Struct("=Q")  # oldnodeid; then newname
READ_IN = struct.Struct("=QQIIQII")  # fh offset size read_flags lock_owner flags padding
WRITE_IN = struct.Struct("=QQIIQII")  # fh offset size write_flags lock_owner flags padding
WRITE_OUT = struct.Struct("=II")  # size padding
RELEASE_IN = struct.Struct("=QIIQ")  # fh flags release_flags lock_owner
FLUSH_IN = struct.Struct("=QIIQ")  # fh unused padding lock_owner
FSYNC_IN = struct.Struct("=QII")  # fh fsync_flags padding
ACCESS_IN = struct.Struct("=II")  # mask padding
FORGET_IN = struct.Struct("=Q")  # nlookup
BATCH_FORGET_IN = struct.Struct("=II")  # count dummy; then count x FORGET_ONE
FORGET_ONE = struct.Struct("=QQ")  # nodeid nlookup
# blocks bfree bavail files ffree bsize namelen frsize padding spare[6]
STATFS_OUT = struct.Struct("=QQQQQIIII24x")
DIRENT = struct.Struct("=QQII")  # ino off namelen type; then name, padded to 8 bytes
BACKING_MAP = struct.Struct("=iIQ")  # fd flags padding

UNKNOWN_INO = 0xFFFFFFFF  # readdir's d_ino when it is not worth a stat (libfuse's value)
