//! The sync protocol between the runtime and the container's init.
//!
//! The two processes share one `SOCK_SEQPACKET` socket pair, made before
//! `clone`. Each message is one packet holding one JSON-encoded [`Msg`].
//! If either side dies, the other reads end-of-file: the init takes that as
//! "the runtime is gone" and exits, so a killed `create` leaves no orphan.
//!
//! ```text
//!   runtime                               init (in the new namespaces)
//!   clone ──────────────────────────────▶ starts
//!   IdMapsWritten ──────────────────────▶ (only with a new user namespace)
//!                ◀────────────────────── MountsDone   (rootfs mounted, not pivoted)
//!   runs prestart, createRuntime hooks
//!   HooksDone{state} ───────────────────▶ createContainer hooks, pivot_root, ...
//!                ◀────────────────────── Ready        (init then blocks on exec.fifo)
//!                ◀────────────────────── Failed{..}   (instead, at any point)
//! ```

use crate::error::{Error, Result};
use nix::errno::Errno;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use serde::{Deserialize, Serialize};
use std::os::fd::OwnedFd;

#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
pub enum Msg {
    IdMapsWritten,
    MountsDone,
    /// The runtime's hooks ran; carries the state JSON for the init's hooks.
    HooksDone {
        state: String,
    },
    Ready,
    /// The init's error, with the errno carried intact.
    Failed {
        call: Option<String>,
        target: String,
        errno: i32,
        message: String,
    },
}

impl Msg {
    fn name(&self) -> &'static str {
        match self {
            Msg::IdMapsWritten => "IdMapsWritten",
            Msg::MountsDone => "MountsDone",
            Msg::HooksDone { .. } => "HooksDone",
            Msg::Ready => "Ready",
            Msg::Failed { .. } => "Failed",
        }
    }
}

/// One end of the socket pair.
pub struct Channel {
    pub fd: OwnedFd,
}

pub fn channel_pair() -> Result<(Channel, Channel)> {
    let (a, b) = crate::explain::kernel(
        "socketpair",
        format_args!("(AF_UNIX, SOCK_SEQPACKET)"),
        "a private line between the runtime and the container's init, to step through setup together",
        || {
            socketpair(
                AddressFamily::Unix,
                SockType::SeqPacket,
                None,
                SockFlag::SOCK_CLOEXEC,
            )
        },
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send(&self, msg: &Msg) -> Result<()> {
        crate::explain::note(
            "sync",
            format_args!("send {}", msg.name()),
            "a step of the runtime/init protocol (see sync.rs)",
        );
        let bytes = serde_json::to_vec(msg).map_err(|e| Error::Other(e.to_string()))?;
        nix::unistd::write(&self.fd, &bytes).map_err(|errno| Error::Kernel {
            call: "write".into(),
            target: "sync socket".into(),
            errno,
        })?;
        Ok(())
    }

    /// Wait for the next message; end-of-file means the peer died.
    pub fn recv(&self) -> Result<Msg> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = loop {
            match nix::unistd::read(&self.fd, &mut buf) {
                Err(Errno::EINTR) => continue,
                r => break r,
            }
        }
        .map_err(|errno| Error::Kernel {
            call: "read".into(),
            target: "sync socket".into(),
            errno,
        })?;
        if n == 0 {
            return Err(Error::Other(
                "the other side of the sync socket exited without a word".into(),
            ));
        }
        let msg: Msg = serde_json::from_slice(&buf[..n])
            .map_err(|e| Error::Other(format!("garbled sync message: {e}")))?;
        crate::explain::note(
            "sync",
            format_args!("received {}", msg.name()),
            "a step of the runtime/init protocol (see sync.rs)",
        );
        Ok(msg)
    }

    /// Wait for `want`; a `Failed` from the init becomes its error.
    pub fn expect(&self, want: Msg) -> Result<()> {
        self.expect_with(|m| (*m == want).then_some(()), &format!("{want:?}"))
    }

    /// Wait for a message `pick` accepts; a `Failed` becomes its error.
    pub fn expect_with<T>(&self, pick: impl Fn(&Msg) -> Option<T>, want: &str) -> Result<T> {
        let got = self.recv()?;
        if let Some(v) = pick(&got) {
            return Ok(v);
        }
        match got {
            Msg::Failed {
                call: Some(call),
                target,
                errno,
                ..
            } => Err(Error::Kernel {
                call,
                target,
                errno: Errno::from_raw(errno),
            }),
            Msg::Failed { message, .. } => Err(Error::Other(message)),
            other => Err(Error::Other(format!(
                "sync: expected {want}, got {other:?}"
            ))),
        }
    }

    /// Tell the runtime why setup failed.
    pub fn send_failure(&self, err: &Error) {
        let msg = match err {
            Error::Kernel {
                call,
                target,
                errno,
            } => Msg::Failed {
                call: Some(call.clone()),
                target: target.clone(),
                errno: *errno as i32,
                message: err.to_string(),
            },
            other => Msg::Failed {
                call: None,
                target: String::new(),
                errno: 0,
                message: other.to_string(),
            },
        };
        let _ = self.send(&msg);
    }
}
