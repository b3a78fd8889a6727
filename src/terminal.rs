//! Terminals: pseudo-terminal pairs, the console socket, and the relay.
//!
//! A pseudo-terminal (pty) is a pair of character devices: whatever is
//! written to the *master* end appears as typed input on the *peer* end
//! (`/dev/pts/N`), and the other way round, with the kernel's line
//! discipline in between (echo, Ctrl-C becoming SIGINT, window size).
//!
//! With `process.terminal`, the spec wants the container's process to have
//! a terminal as its stdio and controlling terminal. The init opens
//! `/dev/ptmx` *inside* the container (so the pty belongs to the
//! container's own devpts instance), makes the peer its controlling
//! terminal and stdio, binds it over `/dev/console`, and hands the master
//! to whoever drives the container: over the `--console-socket` unix
//! socket with SCM_RIGHTS (containerd, conmon), or, for a foreground `run`,
//! to puncker itself, which relays between its own terminal and the master.

use crate::error::{Error, Result};
use crate::explain;
use crate::mounts;
use crate::sys;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

/// The container side of a new pty.
pub struct Pty {
    pub master: OwnedFd,
    pub peer: OwnedFd,
    pub name: String,
}

/// Open a pty from the container's own `/dev/ptmx` (after pivot_root).
pub fn open_pty() -> Result<Pty> {
    let master = explain::kernel(
        "open",
        format_args!("/dev/ptmx (O_RDWR|O_NOCTTY)"),
        "a new pseudo-terminal pair from the container's own devpts",
        || {
            nix::fcntl::open(
                "/dev/ptmx",
                nix::fcntl::OFlag::O_RDWR
                    | nix::fcntl::OFlag::O_NOCTTY
                    | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
        },
    )?;
    let n = explain::kernel(
        "ioctl",
        format_args!("(ptmx, TIOCSPTLCK 0; TIOCGPTN)"),
        "unlock the pair and learn its number",
        || sys::unlock_pty(master.as_fd()),
    )?;
    let peer = explain::kernel(
        "ioctl",
        format_args!("(ptmx, TIOCGPTPEER) -> /dev/pts/{n}"),
        "open the terminal end straight from the master: no path to race",
        || sys::open_pty_peer(master.as_fd()),
    )?;
    Ok(Pty {
        master,
        peer,
        name: format!("/dev/pts/{n}"),
    })
}

pub fn set_size(fd: BorrowedFd, rows: u16, cols: u16) -> Result<()> {
    explain::kernel(
        "ioctl",
        format_args!("(TIOCSWINSZ, {rows} rows x {cols} cols)"),
        "process.consoleSize: the terminal's window size",
        || sys::set_window_size(fd, rows, cols),
    )
}

/// Bind the pty over `/dev/console`, as the spec asks with a terminal.
pub fn bind_console(root: BorrowedFd, pty_name: &str) -> Result<()> {
    let target = mounts::make_inside(root, Path::new("/dev/console"), true)?;
    explain::kernel(
        "mount",
        format_args!("{pty_name} on /dev/console (MS_BIND)"),
        "/dev/console inside is the container's terminal",
        || {
            nix::mount::mount(
                Some(pty_name),
                mounts::fd_path(&target).as_str(),
                None::<&str>,
                nix::mount::MsFlags::MS_BIND,
                None::<&str>,
            )
        },
    )
}

/// New session, pty as controlling terminal, and as fds 0, 1 and 2.
pub fn become_terminal_stdio(peer: &OwnedFd) -> Result<()> {
    explain::kernel(
        "setsid",
        format_args!("()"),
        "a session of its own, to own a controlling terminal",
        || nix::unistd::setsid().map(drop),
    )?;
    explain::kernel(
        "ioctl",
        format_args!("(pty, TIOCSCTTY)"),
        "the pty becomes the controlling terminal: Ctrl-C reaches the process as SIGINT",
        || sys::set_controlling_terminal(peer.as_fd()),
    )?;
    explain::kernel(
        "dup2",
        format_args!("(pty, 0/1/2)"),
        "the terminal is stdin, stdout and stderr",
        || {
            nix::unistd::dup2_stdin(peer.as_fd())?;
            nix::unistd::dup2_stdout(peer.as_fd())?;
            nix::unistd::dup2_stderr(peer.as_fd())
        },
    )
}

/// Send the master over the console socket (SCM_RIGHTS), with the pty's
/// name as the payload, as runc-compatible managers expect.
pub fn send_master(socket: BorrowedFd, master: &OwnedFd, name: &str) -> Result<()> {
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(name.as_bytes())];
    explain::kernel(
        "sendmsg",
        format_args!("(console socket, SCM_RIGHTS pty master {name})"),
        "hand the terminal's master end to the manager that drives the container",
        || sendmsg::<()>(socket.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None).map(drop),
    )
}

/// Receive a pty master sent with [`send_master`].
pub fn recv_master(socket: BorrowedFd) -> Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|errno| Error::Kernel {
        call: "recvmsg".into(),
        target: "console socket".into(),
        errno,
    })?;
    for c in msg.cmsgs().map_err(|errno| Error::Kernel {
        call: "recvmsg".into(),
        target: "console socket".into(),
        errno,
    })? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel installed this fd for us; nothing else owns it.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(Error::Other(
        "console socket: no terminal fd received".into(),
    ))
}

/// The caller's terminal in raw mode while puncker relays; restored on drop,
/// whatever path the relay leaves by.
pub struct RawMode {
    saved: nix::sys::termios::Termios,
}

impl RawMode {
    /// Raw mode on stdin, if stdin is a terminal.
    pub fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = nix::sys::termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        nix::sys::termios::cfmakeraw(&mut raw);
        nix::sys::termios::tcsetattr(stdin.as_fd(), nix::sys::termios::SetArg::TCSANOW, &raw)
            .ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let stdin = std::io::stdin();
        let _ = nix::sys::termios::tcsetattr(
            stdin.as_fd(),
            nix::sys::termios::SetArg::TCSANOW,
            &self.saved,
        );
    }
}

/// Copy our terminal's window size to the container's pty.
pub fn copy_window_size(master: BorrowedFd) {
    match sys::window_size(std::io::stdin().as_fd()) {
        // A terminal with no size (a bare pty) would only erase consoleSize.
        Ok((rows, cols)) if rows > 0 && cols > 0 => {
            let _ = sys::set_window_size(master, rows, cols);
        }
        _ => {}
    }
}
