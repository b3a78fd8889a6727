//! The few system calls that `nix` does not wrap, in one thin place.
//!
//! Every `unsafe` block of the runtime lives here, each with the reason it
//! is sound. The functions return `nix::Result` so callers pass them to
//! [`crate::explain::kernel`] like any other call.

use nix::errno::Errno;
use nix::unistd::Pid;
use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

fn check(ret: libc::c_long) -> nix::Result<libc::c_long> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// `clone3(2)` used like `fork(2)`, but the child is born inside the new
/// namespaces named by `flags` and, given a cgroup v2 directory, inside
/// that cgroup (CLONE_INTO_CGROUP), so it never has to be moved there.
/// Returns `None` in the child.
///
/// The runtime is single-threaded here (no thread is ever started before
/// this call), which is what makes a fork-style clone safe in Rust.
pub fn clone_into_namespaces(
    flags: libc::c_int,
    cgroup: Option<BorrowedFd>,
) -> nix::Result<Option<Pid>> {
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let mut args = libc::clone_args {
        flags: flags as u32 as u64,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        // With CLONE_PARENT the child inherits its parent's exit signal,
        // and clone3 refuses one given alongside.
        exit_signal: if flags & libc::CLONE_PARENT != 0 {
            0
        } else {
            libc::SIGCHLD as u64
        },
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: 0,
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: a null stack makes the child continue on a copy of the
    // caller's stack, as fork(2) does; the process has one thread, so no
    // lock can be held by a thread that does not exist in the child. The
    // kernel reads `args` only during the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    match check(ret)? {
        0 => Ok(None),
        pid => Ok(Some(Pid::from_raw(pid as i32))),
    }
}

/// `pidfd_open(2)`: a handle on a process that can not be confused with a
/// later process that reuses its pid.
pub fn pidfd_open(pid: Pid) -> nix::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) })?;
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_send_signal(2)`: signal exactly the process the pidfd names.
pub fn pidfd_send_signal(pidfd: BorrowedFd, sig: i32) -> nix::Result<()> {
    // SAFETY: plain syscall; the siginfo pointer may be null.
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
}

/// `close_range(2)` with CLOSE_RANGE_CLOEXEC: every fd from `first` up is
/// closed at the coming `execve`, whatever the runtime inherited.
pub fn mark_fds_cloexec_from(first: u32) -> nix::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    check(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    })
    .map(drop)
}

/// `openat2(2)` with RESOLVE_IN_ROOT: `path` is resolved as if `root` were
/// `/`, so neither `..` nor a symlink can lead out of the container's rootfs.
pub fn open_in_root(root: BorrowedFd, path: &CStr, flags: libc::c_int) -> nix::Result<OwnedFd> {
    // SAFETY: open_how is plain integers; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `how` and `path` outlive the call; the size matches the struct.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    })?;
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pivot_root(2)`; nix has it, but taking `.` twice is clearer through CStr.
pub fn pivot_root_here() -> nix::Result<()> {
    let dot = c".";
    // SAFETY: both pointers are valid NUL-terminated strings.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) }).map(drop)
}

/// The three capability sets of `capset(2)`, as 64-bit masks.
#[derive(Clone, Copy, Default, Debug)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

/// `capset(2)` for the calling thread, with the 64-bit (version 3) layout.
pub fn capset(sets: CapSets) -> nix::Result<()> {
    let header = libc_cap::Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let lo = |v: u64| v as u32;
    let hi = |v: u64| (v >> 32) as u32;
    let data = [
        libc_cap::Data {
            effective: lo(sets.effective),
            permitted: lo(sets.permitted),
            inheritable: lo(sets.inheritable),
        },
        libc_cap::Data {
            effective: hi(sets.effective),
            permitted: hi(sets.permitted),
            inheritable: hi(sets.inheritable),
        },
    ];
    // SAFETY: header and two data structs, as version 3 of the ABI wants.
    check(unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) }).map(drop)
}

mod libc_cap {
    #[repr(C)]
    pub struct Header {
        pub version: u32,
        pub pid: i32,
    }
    #[repr(C)]
    pub struct Data {
        pub effective: u32,
        pub permitted: u32,
        pub inheritable: u32,
    }
}

/// `prctl(2)` with integer arguments (capability bounding and ambient sets,
/// securebits, the parent-death signal, dumpability, no_new_privs).
pub fn prctl(option: libc::c_int, arg2: libc::c_ulong, arg3: libc::c_ulong) -> nix::Result<i32> {
    // SAFETY: every option used by the runtime takes integer arguments only.
    let r = unsafe { libc::prctl(option, arg2, arg3, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    check(r as libc::c_long).map(|v| v as i32)
}

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING)`: a fresh session keyring, so the
/// container does not share the host's keys.
pub fn join_new_session_keyring(name: &CStr) -> nix::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    check(unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) })
        .map(drop)
}

/// `_exit(2)`: leave the forked child without running the parent's
/// destructors or flushing its buffers twice.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// `setdomainname(2)`, which nix does not wrap.
pub fn setdomainname(name: &str) -> nix::Result<()> {
    // SAFETY: pointer and length describe `name`'s bytes, alive for the call.
    let r = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(r).map(drop)
}

/// `setrlimit(2)` with the raw resource number (nix's enum lacks some).
pub fn setrlimit(resource: libc::__rlimit_resource_t, lim: &libc::rlimit) -> nix::Result<()> {
    // SAFETY: `lim` is a valid rlimit that outlives the call.
    Errno::result(unsafe { libc::setrlimit(resource, lim) }).map(drop)
}

/// `flock(LOCK_EX)`: wait for exclusive use of a container. The lock dies
/// with the last fd of its open file, so a killed command never leaves it.
pub fn flock_exclusive(f: &std::fs::File) -> nix::Result<()> {
    loop {
        // SAFETY: plain syscall on an fd that `f` keeps open.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        match Errno::result(r) {
            Err(Errno::EINTR) => continue,
            r => return r.map(drop),
        }
    }
}

/// A pseudo-terminal's window size (`struct winsize`).
pub fn set_window_size(fd: BorrowedFd, rows: u16, cols: u16) -> nix::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize struct, which outlives the call.
    Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) }).map(drop)
}

/// The window size of a terminal, as (rows, cols).
pub fn window_size(fd: BorrowedFd) -> nix::Result<(u16, u16)> {
    // SAFETY: winsize is plain integers; all-zero is a valid value.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize struct into `ws`.
    Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) })?;
    Ok((ws.ws_row, ws.ws_col))
}

/// Unlock a pty master and return its number N (the peer is /dev/pts/N).
pub fn unlock_pty(master: BorrowedFd) -> nix::Result<u32> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int.
    Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) })?;
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int.
    Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) })?;
    Ok(n)
}

/// Open the pty's other end straight from the master (TIOCGPTPEER), so no
/// path lookup can be raced.
pub fn open_pty_peer(master: BorrowedFd) -> nix::Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags as its argument and returns a new fd.
    let fd = Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) })?;
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Make `fd` the calling session's controlling terminal (TIOCSCTTY).
pub fn set_controlling_terminal(fd: BorrowedFd) -> nix::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) }).map(drop)
}

/// `seccomp(SECCOMP_SET_MODE_FILTER)`: install a BPF filter on the calling
/// thread. With SECCOMP_FILTER_FLAG_NEW_LISTENER the kernel returns the
/// filter's notify fd (close-on-exec).
pub fn seccomp_set_filter(
    program: &[libc::sock_filter],
    flags: libc::c_ulong,
) -> nix::Result<Option<OwnedFd>> {
    let prog = libc::sock_fprog {
        len: u16::try_from(program.len()).map_err(|_| Errno::EINVAL)?,
        // The kernel only reads through this pointer.
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` describes `program`, which outlives the call; the
    // kernel copies the instructions before it returns.
    let ret = check(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    })?;
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
        return Ok(None);
    }
    // SAFETY: with NEW_LISTENER the return value is a new fd nothing else owns.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as RawFd) }))
}

/// Whether this kernel takes `flags` for SECCOMP_SET_MODE_FILTER. The
/// kernel checks the flags before it reads the program: given no program,
/// it says EFAULT for flags it knows and EINVAL for the others. Nothing is
/// installed either way.
pub fn seccomp_flags_supported(flags: libc::c_ulong) -> bool {
    // SAFETY: a null program pointer is never dereferenced by the kernel
    // without a fault check (copy_from_user fails with EFAULT).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    ret < 0 && Errno::last() == Errno::EFAULT
}

/// `sendmsg(2)` of `payload` with one fd as SCM_RIGHTS, without touching
/// the heap: it runs under a freshly loaded seccomp filter, where even an
/// `mmap` from the allocator could be a call the filter holds up.
pub fn send_with_fd(sock: BorrowedFd, payload: &[u8], fd: BorrowedFd) -> nix::Result<()> {
    // Room for one cmsghdr plus one int, aligned as cmsghdr needs.
    let mut space = [0u64; 4];
    // SAFETY: CMSG_SPACE is a pure size computation.
    let cmsg_space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    if cmsg_space > std::mem::size_of_val(&space) {
        return Err(Errno::EOVERFLOW);
    }
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr().cast_mut().cast(),
        iov_len: payload.len(),
    };
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iovlen = 1;
    msg.msg_control = space.as_mut_ptr().cast();
    msg.msg_controllen = cmsg_space;
    // SAFETY: msg_control points at `space`, large enough for one cmsghdr
    // with one int (checked above), so CMSG_FIRSTHDR is non-null and
    // CMSG_DATA points inside `space`.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd.as_raw_fd());
    }
    let mut sent = 0;
    while sent < payload.len() {
        if sent > 0 {
            // The fd went with the first part; the rest is plain payload.
            msg.msg_control = std::ptr::null_mut();
            msg.msg_controllen = 0;
            iov.iov_base = payload[sent..].as_ptr().cast_mut().cast();
            iov.iov_len = payload.len() - sent;
        }
        msg.msg_iov = &mut iov;
        // SAFETY: `msg` points at `iov` and `space`, both alive for the call.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        match Errno::result(n) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(n) => sent += n as usize,
        }
    }
    Ok(())
}

/// `sched_setattr(2)` for the calling thread; glibc has no wrapper.
pub fn sched_setattr(attr: &libc::sched_attr) -> nix::Result<()> {
    // SAFETY: `attr` is a valid sched_attr whose `size` field matches it,
    // alive for the call; the kernel only reads it.
    check(unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0,
            attr as *const libc::sched_attr,
            0,
        )
    })
    .map(drop)
}

/// `ioprio_set(IOPRIO_WHO_PROCESS, 0, value)`: the calling process's I/O
/// priority; glibc has no wrapper.
pub fn ioprio_set_self(value: i32) -> nix::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    // SAFETY: plain syscall with integer arguments.
    check(unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) }).map(drop)
}

/// `personality(2)`: the execution domain (PER_LINUX, PER_LINUX32, ...).
pub fn personality(persona: libc::c_ulong) -> nix::Result<()> {
    // SAFETY: plain call with an integer argument.
    Errno::result(unsafe { libc::personality(persona) }).map(drop)
}

/// Make a command's child die with the runtime (PR_SET_PDEATHSIG), so a
/// killed runtime leaves no hook running.
pub fn die_with_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe calls (prctl, getppid, _exit).
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            if libc::getppid() != parent {
                libc::_exit(1); // the runtime died before the prctl
            }
            Ok(())
        });
    }
}

/// `bpf(2)` for the cgroup device filter: load a program, attach it to a
/// cgroup, list and detach what a cgroup has. The kernel reads (and for a
/// query, writes) one `union bpf_attr`; each command's part of it is a
/// struct below, laid out as in `<linux/bpf.h>`. A part may be shorter than
/// the kernel's union: the kernel treats the missing bytes as zero.
mod bpf_abi {
    pub const PROG_LOAD: libc::c_int = 5;
    pub const PROG_ATTACH: libc::c_int = 8;
    pub const PROG_DETACH: libc::c_int = 9;
    pub const PROG_GET_FD_BY_ID: libc::c_int = 13;
    pub const OBJ_GET_INFO_BY_FD: libc::c_int = 15;
    pub const PROG_QUERY: libc::c_int = 16;

    /// BPF_PROG_LOAD's part, up to `expected_attach_type`.
    #[repr(C)]
    #[derive(Default)]
    pub struct ProgLoad {
        pub prog_type: u32,
        pub insn_cnt: u32,
        pub insns: u64,
        pub license: u64,
        pub log_level: u32,
        pub log_size: u32,
        pub log_buf: u64,
        pub kern_version: u32,
        pub prog_flags: u32,
        pub prog_name: [u8; 16],
        pub prog_ifindex: u32,
        pub expected_attach_type: u32,
    }

    /// BPF_PROG_ATTACH's and BPF_PROG_DETACH's part.
    #[repr(C)]
    #[derive(Default)]
    pub struct Attach {
        pub target_fd: u32,
        pub attach_bpf_fd: u32,
        pub attach_type: u32,
        pub attach_flags: u32,
        pub replace_bpf_fd: u32,
        pub relative_fd: u32,
        pub expected_revision: u64,
    }

    /// BPF_PROG_QUERY's part, whole: the kernel writes `attach_flags`,
    /// `prog_cnt` and (since 6.16, whatever size it is told) `revision`
    /// back into it. `spare` is zeroed room for fields a later kernel may
    /// also write back.
    #[repr(C)]
    #[derive(Default)]
    pub struct Query {
        pub target_fd: u32,
        pub attach_type: u32,
        pub query_flags: u32,
        pub attach_flags: u32,
        pub prog_ids: u64,
        pub prog_cnt: u32,
        pub _pad: u32,
        pub prog_attach_flags: u64,
        pub link_ids: u64,
        pub link_attach_flags: u64,
        pub revision: u64,
        pub spare: [u64; 8],
    }

    /// BPF_PROG_GET_FD_BY_ID's part.
    #[repr(C)]
    #[derive(Default)]
    pub struct GetFdById {
        pub prog_id: u32,
        pub next_id: u32,
        pub open_flags: u32,
    }

    /// BPF_OBJ_GET_INFO_BY_FD's part; `info` points at a `bpf_prog_info`.
    #[repr(C)]
    #[derive(Default)]
    pub struct GetInfo {
        pub bpf_fd: u32,
        pub info_len: u32,
        pub info: u64,
    }

    /// The head of `struct bpf_prog_info`: all the runtime asks for.
    #[repr(C)]
    #[derive(Default)]
    pub struct ProgInfoHead {
        pub prog_type: u32,
        pub id: u32,
    }
}

/// One `bpf(2)` call with one command's part of `union bpf_attr`.
///
/// # Safety
///
/// `T` must be one of the `bpf_abi` parts, laid out to the end of what the
/// kernel writes back for `cmd`, and every pointer in it must describe
/// memory that stays valid (and, where the kernel writes, writable and as
/// large as the matching count says) for the call.
unsafe fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> nix::Result<libc::c_long> {
    // SAFETY: `attr` is live and writable for `size_of::<T>()` bytes; the
    // kernel reads at most that many and the caller vouches for the rest.
    check(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            (attr as *mut T).cast::<libc::c_void>(),
            std::mem::size_of::<T>() as libc::c_uint,
        )
    })
}

/// `bpf(BPF_PROG_LOAD)`: hand a program (eBPF instructions, 8 bytes each,
/// in `struct bpf_insn` layout) to the kernel's verifier and, if it passes,
/// get a descriptor of the loaded program (close-on-exec). With a `log`
/// buffer the verifier writes why it refused the program there
/// (`log_level` 1), NUL-terminated.
pub fn bpf_prog_load(
    prog_type: u32,
    insns: &[[u8; 8]],
    license: &CStr,
    name: &str,
    log: Option<&mut [u8]>,
) -> nix::Result<OwnedFd> {
    let mut attr = bpf_abi::ProgLoad {
        prog_type,
        insn_cnt: u32::try_from(insns.len()).map_err(|_| Errno::E2BIG)?,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..Default::default()
    };
    // The kernel takes [A-Za-z0-9_.] and at most 15 bytes, NUL-terminated.
    for (to, from) in attr.prog_name[..15].iter_mut().zip(name.bytes()) {
        *to = from;
    }
    if let Some(buf) = log {
        attr.log_level = 1;
        attr.log_size = u32::try_from(buf.len()).map_err(|_| Errno::E2BIG)?;
        attr.log_buf = buf.as_mut_ptr() as u64;
    }
    // SAFETY: the pointers in `attr` describe `insns` (`insn_cnt` of
    // them), `license` (NUL-terminated) and `log` (`log_size` bytes, the
    // most the kernel writes), all alive for the call; nothing is written
    // back into `attr` at this size.
    let fd = unsafe { bpf(bpf_abi::PROG_LOAD, &mut attr) }?;
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `bpf(BPF_PROG_ATTACH)`: run `prog` on the hook `attach_type` of the
/// cgroup whose directory `cgroup` is open, with `BPF_F_*` `flags`.
pub fn bpf_prog_attach(
    cgroup: BorrowedFd,
    prog: BorrowedFd,
    attach_type: u32,
    flags: u32,
) -> nix::Result<()> {
    let mut attr = bpf_abi::Attach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        attach_flags: flags,
        ..Default::default()
    };
    // SAFETY: `attr` holds descriptors and numbers, no pointer.
    unsafe { bpf(bpf_abi::PROG_ATTACH, &mut attr) }.map(drop)
}

/// `bpf(BPF_PROG_DETACH)`: take `prog` off the cgroup's `attach_type` hook.
pub fn bpf_prog_detach(cgroup: BorrowedFd, prog: BorrowedFd, attach_type: u32) -> nix::Result<()> {
    let mut attr = bpf_abi::Attach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        ..Default::default()
    };
    // SAFETY: `attr` holds descriptors and numbers, no pointer.
    unsafe { bpf(bpf_abi::PROG_DETACH, &mut attr) }.map(drop)
}

/// `bpf(BPF_PROG_QUERY)`: the ids of the programs attached to the cgroup's
/// `attach_type` hook itself (not those it inherits). Fills `ids` and
/// returns how many there are; ENOSPC if `ids` was too short for them all
/// (an empty `ids` just counts).
pub fn bpf_prog_query(cgroup: BorrowedFd, attach_type: u32, ids: &mut [u32]) -> nix::Result<usize> {
    let mut attr = bpf_abi::Query {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type,
        prog_ids: if ids.is_empty() {
            0
        } else {
            ids.as_mut_ptr() as u64
        },
        prog_cnt: u32::try_from(ids.len()).map_err(|_| Errno::E2BIG)?,
        ..Default::default()
    };
    // SAFETY: `prog_ids` is null or points at `ids`, into which the kernel
    // writes at most `prog_cnt` (its length) ids; `Query` is whole, so the
    // fields written back into `attr` are inside it.
    unsafe { bpf(bpf_abi::PROG_QUERY, &mut attr) }?;
    Ok(attr.prog_cnt as usize)
}

/// `bpf(BPF_PROG_GET_FD_BY_ID)`: a descriptor (close-on-exec) of a loaded
/// program, from its system-wide id.
pub fn bpf_prog_get_fd_by_id(id: u32) -> nix::Result<OwnedFd> {
    let mut attr = bpf_abi::GetFdById {
        prog_id: id,
        ..Default::default()
    };
    // SAFETY: `attr` holds numbers, no pointer.
    let fd = unsafe { bpf(bpf_abi::PROG_GET_FD_BY_ID, &mut attr) }?;
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `bpf(BPF_OBJ_GET_INFO_BY_FD)` on a program: its system-wide id, the one
/// BPF_PROG_QUERY lists.
pub fn bpf_prog_id(prog: BorrowedFd) -> nix::Result<u32> {
    let mut info = bpf_abi::ProgInfoHead::default();
    let mut attr = bpf_abi::GetInfo {
        bpf_fd: prog.as_raw_fd() as u32,
        info_len: std::mem::size_of::<bpf_abi::ProgInfoHead>() as u32,
        info: &mut info as *mut bpf_abi::ProgInfoHead as u64,
    };
    // SAFETY: `attr.info` points at `info`, into which the kernel writes
    // at most `info_len` (its size) bytes; it writes `info_len` back into
    // `attr`, which has it.
    unsafe { bpf(bpf_abi::OBJ_GET_INFO_BY_FD, &mut attr) }?;
    Ok(info.id)
}
