//! One error type for the whole runtime.
//!
//! Every failing kernel call becomes [`Error::Kernel`]: it carries the call,
//! what it was aimed at and the errno, and its message adds what the kernel
//! needed, so a failure explains itself. Everything a user can get wrong
//! (config, ids, state) has its own variant naming the file, field or id.

use nix::errno::Errno;
use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// A syscall (or a write to a kernel file) failed.
    Kernel {
        call: String,
        target: String,
        errno: Errno,
    },
    /// `config.json` (or a process JSON) is unusable: which file, what is wrong.
    Config { file: String, msg: String },
    /// A command does not fit the container's current state, or the id is bad.
    Container { id: String, msg: String },
    /// A hook failed; the spec says what that fails.
    Hook { stage: &'static str, msg: String },
    /// A bad command line.
    Usage(String),
    /// A feature of the spec that this runtime does not do yet.
    Unsupported(String),
    /// Anything else, already phrased for the user.
    Other(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn container(id: &str, msg: impl Into<String>) -> Self {
        Error::Container {
            id: id.to_string(),
            msg: msg.into(),
        }
    }

    pub fn config(file: impl fmt::Display, msg: impl Into<String>) -> Self {
        Error::Config {
            file: file.to_string(),
            msg: msg.into(),
        }
    }

    /// The errno behind the error, if a kernel call failed.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// What the kernel wanted when `call` failed with `errno`: one plain hint.
fn kernel_needed(call: &str, errno: Errno) -> &'static str {
    match (call, errno) {
        ("mount" | "umount2" | "pivot_root" | "unshare" | "setns" | "sethostname", Errno::EPERM) => {
            "needs CAP_SYS_ADMIN in the user namespace that owns the target namespace"
        }
        ("clone", Errno::EPERM) => "creating namespaces needs CAP_SYS_ADMIN (or a user namespace)",
        ("clone", Errno::ENOSPC) => "a namespace limit in /proc/sys/user/max_*_namespaces was hit",
        ("clone", Errno::EINVAL) => "the kernel does not support one of the namespace flags",
        ("pivot_root", Errno::EINVAL) => {
            "the new root must be a mount point not on the same mount as the old root (use --no-pivot on a ramfs root)"
        }
        ("mknod", Errno::EPERM) => "needs CAP_MKNOD in the initial user namespace",
        ("setrlimit", Errno::EPERM) => "raising a hard limit needs CAP_SYS_RESOURCE",
        ("write oom_score_adj", Errno::EACCES | Errno::EPERM) => {
            "lowering oom_score_adj needs CAP_SYS_RESOURCE"
        }
        ("write uid_map" | "write gid_map", Errno::EPERM) => {
            "the mapping needs CAP_SETUID/CAP_SETGID over the host ids, and each map can be written once"
        }
        ("seccomp", Errno::EACCES) => "loading a filter needs no_new_privs or CAP_SYS_ADMIN",
        ("seccomp", Errno::EINVAL) => "the kernel refused the filter program or its flags",
        ("connect", Errno::ECONNREFUSED | Errno::ENOENT) => "no agent is listening on that socket",
        ("execve", Errno::ENOENT) => "the program (or its interpreter) does not exist in the container",
        ("execve", Errno::EACCES) => "the file is not executable, or a mount is noexec",
        ("bpf", Errno::EACCES) => "the BPF verifier refused the program (its log follows)",
        (_, Errno::ENOENT) => "the path does not exist",
        (_, Errno::EACCES) => "permission denied by file mode or an LSM",
        (_, Errno::EROFS) => "the file system is mounted read-only",
        (_, Errno::ENOSYS) => "this kernel does not have the call",
        (_, Errno::EPERM) => "the caller lacks the capability this call needs",
        _ => "",
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Kernel {
                call,
                target,
                errno,
            } => {
                write!(f, "{call} {target}: {} ({errno:?})", errno.desc())?;
                let hint = kernel_needed(call.as_str(), *errno);
                if !hint.is_empty() {
                    write!(f, ": {hint}")?;
                }
                Ok(())
            }
            Error::Config { file, msg } => write!(f, "{file}: {msg}"),
            Error::Container { id, msg } => write!(f, "container \"{id}\" {msg}"),
            Error::Hook { stage, msg } => write!(f, "{stage} hook failed: {msg}"),
            Error::Usage(m) => write!(f, "{m}"),
            Error::Unsupported(m) => write!(f, "{m}: not supported yet by puncker"),
            Error::Other(m) => write!(f, "{m}"),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Other(e.to_string())
    }
}
