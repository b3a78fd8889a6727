//! Mounts: attaching file systems to the container's tree.
//!
//! The spec's `mounts` are applied in order, each as `mount(2)` with flags
//! and data parsed from `options` (`ro`, `nosuid`, `bind`, `rprivate`,
//! `size=64k`...). A destination is always resolved *inside* the rootfs
//! with `openat2(RESOLVE_IN_ROOT)`: a symlink the image planted at
//! `/evil -> /etc` leads to `<rootfs>/etc`, never to the host's `/etc`.
//! Missing directories are made one component at a time under an already
//! resolved parent, and the mount itself targets `/proc/self/fd/N`, the
//! resolved file, so nothing can be swapped in between the check and the
//! mount.

use crate::error::{Error, Result};
use crate::explain;
use crate::sys;
use nix::mount::MsFlags;
use nix::sys::stat::Mode;
use oci_spec::runtime::Mount;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// A mount's options, sorted into what `mount(2)` takes.
#[derive(Debug)]
pub struct Options {
    pub flags: MsFlags,
    /// Flags an option turned off (`rw`, `suid`...), for remounts.
    pub cleared: MsFlags,
    pub propagation: MsFlags,
    pub bind: bool,
    pub data: Vec<String>,
}

pub fn parse_options(opts: &[String]) -> Options {
    let mut o = Options {
        flags: MsFlags::empty(),
        cleared: MsFlags::empty(),
        propagation: MsFlags::empty(),
        bind: false,
        data: Vec::new(),
    };
    for opt in opts {
        let (set, clear) = match opt.as_str() {
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty()),
            "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME),
            "silent" => (MsFlags::MS_SILENT, MsFlags::empty()),
            "loud" => (MsFlags::empty(), MsFlags::MS_SILENT),
            "bind" => {
                o.bind = true;
                (MsFlags::MS_BIND, MsFlags::empty())
            }
            "rbind" => {
                o.bind = true;
                (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty())
            }
            "private" => {
                o.propagation |= MsFlags::MS_PRIVATE;
                continue;
            }
            "rprivate" => {
                o.propagation |= MsFlags::MS_PRIVATE | MsFlags::MS_REC;
                continue;
            }
            "shared" => {
                o.propagation |= MsFlags::MS_SHARED;
                continue;
            }
            "rshared" => {
                o.propagation |= MsFlags::MS_SHARED | MsFlags::MS_REC;
                continue;
            }
            "slave" => {
                o.propagation |= MsFlags::MS_SLAVE;
                continue;
            }
            "rslave" => {
                o.propagation |= MsFlags::MS_SLAVE | MsFlags::MS_REC;
                continue;
            }
            "unbindable" => {
                o.propagation |= MsFlags::MS_UNBINDABLE;
                continue;
            }
            "runbindable" => {
                o.propagation |= MsFlags::MS_UNBINDABLE | MsFlags::MS_REC;
                continue;
            }
            // Not mount(2) flags: runc extensions with nothing to do here.
            "tmpcopyup" | "nosymfollow" => continue,
            other => {
                o.data.push(other.to_string());
                continue;
            }
        };
        o.flags |= set;
        o.flags &= !clear;
        o.cleared |= clear;
    }
    o
}

/// Flags as the names a reader knows from mount(2): `MS_NOSUID|MS_NODEV`.
pub fn flag_names(flags: MsFlags) -> String {
    let names: Vec<&str> = flags.iter_names().map(|(n, _)| n).collect();
    if names.is_empty() {
        "no flags".into()
    } else {
        names.join("|")
    }
}

/// The path below the rootfs, as a relative path without `..` games (those
/// are resolved by the kernel inside the root anyway).
fn inside(dest: &Path) -> PathBuf {
    dest.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::Other(format!("path {} contains a NUL byte", p.display())))
}

/// Open `path` inside `root` (O_PATH), never leaving the root.
pub fn open_inside(root: BorrowedFd, path: &Path) -> Result<OwnedFd> {
    let rel = inside(path);
    let c = cstr(&Path::new("/").join(&rel))?;
    explain::kernel(
        "openat2",
        format_args!("(rootfs, {:?}, RESOLVE_IN_ROOT)", Path::new("/").join(&rel)),
        "resolve the path as if the rootfs were /: symlinks cannot lead out",
        || sys::open_in_root(root, &c, libc::O_PATH),
    )
}

/// Make `path` (and its parents) inside `root` if missing: a directory, or
/// an empty file when `file` is true. Returns an O_PATH fd of the result.
pub fn make_inside(root: BorrowedFd, path: &Path, file: bool) -> Result<OwnedFd> {
    let rel = inside(path);
    // Most destinations exist already: one lookup then, not one per component.
    if let Ok(fd) = sys::open_in_root(root, &cstr(&Path::new("/").join(&rel))?, libc::O_PATH) {
        return Ok(fd);
    }
    let mut done = PathBuf::from("/");
    let count = rel.components().count();
    for (i, comp) in rel.components().enumerate() {
        let next = done.join(comp);
        let c = cstr(&next)?;
        if sys::open_in_root(root, &c, libc::O_PATH).is_err() {
            let parent = sys::open_in_root(root, &cstr(&done)?, libc::O_PATH | libc::O_DIRECTORY)
                .map_err(|errno| Error::Kernel {
                call: "openat2".into(),
                target: format!("rootfs{}", done.display()),
                errno,
            })?;
            let last = i + 1 == count;
            make_one(parent.as_fd(), comp.as_os_str(), last && file, &next)?;
        }
        done = next;
    }
    open_inside(root, path)
}

fn make_one(parent: BorrowedFd, name: &std::ffi::OsStr, file: bool, shown: &Path) -> Result<()> {
    let r = if file {
        nix::fcntl::openat(
            parent,
            name,
            nix::fcntl::OFlag::O_CREAT
                | nix::fcntl::OFlag::O_EXCL
                | nix::fcntl::OFlag::O_CLOEXEC
                | nix::fcntl::OFlag::O_NOFOLLOW,
            Mode::from_bits_truncate(0o644),
        )
        .map(drop)
    } else {
        nix::sys::stat::mkdirat(parent, name, Mode::from_bits_truncate(0o755))
    };
    match r {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {
            explain::note(
                if file { "openat(O_CREAT)" } else { "mkdirat" },
                format_args!("rootfs{}", shown.display()),
                "a mount needs something to sit on",
            );
            Ok(())
        }
        Err(errno) => Err(Error::Kernel {
            call: if file { "openat(O_CREAT)" } else { "mkdirat" }.into(),
            target: format!("rootfs{}", shown.display()),
            errno,
        }),
    }
}

/// The magic path of an open fd, for mount(2) calls that take paths.
pub fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Mount one `mounts` entry inside the rootfs.
pub fn mount_entry(
    root: BorrowedFd,
    bundle: &Path,
    m: &Mount,
    cgroup: &crate::cgroups::Cgroup,
) -> Result<()> {
    let dest = m.destination();
    let typ = m.typ().as_deref().unwrap_or("");
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
    if typ == "cgroup" || typ == "cgroup2" {
        return crate::cgroups::mount::mount_cgroup_tree(root, dest, &opts, cgroup);
    }
    let mut source = m.source().clone().unwrap_or_default();
    if opts.bind && source.is_relative() {
        source = bundle.join(source);
    }
    let is_file = opts.bind && source.metadata().map(|md| !md.is_dir()).unwrap_or(false);
    let target = make_inside(root, dest, is_file)?;
    let tpath = fd_path(&target);
    let data = opts.data.join(",");
    if opts.bind {
        bind(&source, &tpath, dest, opts.flags & MsFlags::MS_REC)?;
        let extra = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
        if !extra.is_empty() {
            // The fd still names the directory *under* the new mount: reopen.
            let top = open_inside(root, dest)?;
            remount(&fd_path(&top), dest, extra)?;
        }
    } else {
        let src = source.to_string_lossy().into_owned();
        let t0 = std::time::Instant::now();
        let r = nix::mount::mount(
            Some(src.as_str()),
            tpath.as_str(),
            Some(typ),
            opts.flags,
            (!data.is_empty()).then_some(data.as_str()),
        );
        match r {
            // sysfs belongs to the network namespace's owner: without a
            // new netns inside a user namespace, bind the host's instead.
            Err(nix::errno::Errno::EPERM) if typ == "sysfs" => {
                bind(Path::new("/sys"), &tpath, dest, MsFlags::MS_REC)?;
            }
            r => {
                if explain::enabled() {
                    explain::record(
                        "mount",
                        format_args!(
                            "{src} on {} type {typ} ({}{}{})",
                            dest.display(),
                            flag_names(opts.flags),
                            if data.is_empty() { "" } else { ", " },
                            data
                        ),
                        "a file system from config.json's mounts, in order",
                        t0.elapsed(),
                        r.err(),
                    );
                }
                r.map_err(|errno| Error::Kernel {
                    call: "mount".into(),
                    target: format!("{src} on {} type {typ}", dest.display()),
                    errno,
                })?;
            }
        }
    }
    if !opts.propagation.is_empty() {
        let top = open_inside(root, dest)?;
        set_propagation(&fd_path(&top), dest, opts.propagation)?;
    }
    Ok(())
}

fn bind(source: &Path, target: &str, shown: &Path, rec: MsFlags) -> Result<()> {
    explain::kernel(
        "mount",
        format_args!(
            "{} on {} (MS_BIND{})",
            source.display(),
            shown.display(),
            if rec.is_empty() { "" } else { "|MS_REC" }
        ),
        "a bind mount shows an existing directory or file at a second place",
        || {
            nix::mount::mount(
                Some(source),
                target,
                None::<&str>,
                MsFlags::MS_BIND | rec,
                None::<&str>,
            )
        },
    )
}

/// Change the flags of an existing mount (a bind mount takes its flags only
/// on a second, remounting call). Flags the kernel locked are kept.
pub fn remount(target: &str, shown: &Path, flags: MsFlags) -> Result<()> {
    let keep = current_flags(target);
    explain::kernel(
        "mount",
        format_args!(
            "{} (MS_REMOUNT|MS_BIND|{})",
            shown.display(),
            flag_names(flags)
        ),
        "apply ro/nosuid/nodev/noexec to a bind mount",
        || {
            nix::mount::mount(
                None::<&str>,
                target,
                None::<&str>,
                MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags | keep,
                None::<&str>,
            )
        },
    )
}

/// The flags a mount already has, from statvfs.
fn current_flags(target: &str) -> MsFlags {
    use nix::sys::statvfs::FsFlags;
    let Ok(st) = nix::sys::statvfs::statvfs(target) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (a, b) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(a) {
            out |= b;
        }
    }
    out
}

pub fn set_propagation(target: &str, shown: &Path, flags: MsFlags) -> Result<()> {
    explain::kernel(
        "mount",
        format_args!("{} propagation {}", shown.display(), flag_names(flags)),
        "whether mount events travel between this mount and its peers",
        || nix::mount::mount(None::<&str>, target, None::<&str>, flags, None::<&str>),
    )
}
