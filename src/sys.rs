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

/// `clone(2)` used like `fork(2)`, but the child is born inside the new
/// namespaces named by `flags`. Returns `None` in the child.
///
/// The runtime is single-threaded here (no thread is ever started before
/// this call), which is what makes a fork-style clone safe in Rust.
pub fn clone_into_namespaces(flags: libc::c_int) -> nix::Result<Option<Pid>> {
    // SAFETY: a null stack makes the child continue on a copy of the
    // caller's stack, as fork(2) does; the process has one thread, so no
    // lock can be held by a thread that does not exist in the child.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
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
