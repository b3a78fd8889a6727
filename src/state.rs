//! The container state store: one directory per container under `--root`.
//!
//! ```text
//! <root>/<id>/state.json   the record: what was made, written before it is made
//! <root>/<id>/exec.fifo    exists while the container is `created`; `start` opens it
//! ```
//!
//! Crash safety rests on two rules. Every record is written atomically
//! (temporary file, then rename), and the record names a resource before
//! the resource exists, so a runtime killed at any instant leaves a record
//! from which `delete --force` can undo everything. A new container's
//! directory is built under a temporary name and renamed into place, so an
//! id is either absent or has a readable record.
//!
//! Processes are identified by pid *and* start time (from
//! `/proc/PID/stat`), so a recycled pid is never mistaken for the container.
//!
//! Commands that change a container hold an exclusive `flock` on its
//! directory; `state` and `list` only read the atomically-replaced record.

use crate::error::{Error, Result};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A process, named so that pid reuse cannot fool us.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessId {
    pub pid: i32,
    /// Start time in clock ticks after boot, field 22 of `/proc/PID/stat`.
    pub start_time: u64,
}

impl ProcessId {
    /// Name a live process; `None` if it is already gone.
    pub fn of(pid: Pid) -> Option<ProcessId> {
        let (start_time, _) = read_stat(pid.as_raw())?;
        Some(ProcessId {
            pid: pid.as_raw(),
            start_time,
        })
    }

    /// Alive and still the same process (a zombie counts as gone).
    pub fn is_alive(&self) -> bool {
        match read_stat(self.pid) {
            Some((start, state)) => start == self.start_time && state != 'Z' && state != 'X',
            None => false,
        }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.pid)
    }
}

/// (start time, state letter) from `/proc/PID/stat`.
fn read_stat(pid: i32) -> Option<(u64, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    // `rest` starts at field 3; start time is field 22.
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state))
}

/// How far `create` got.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The record exists; the init may or may not have been made yet.
    Creating,
    /// The init is set up and waits on `exec.fifo`.
    Created,
}

/// The on-disk record of one container.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: u32,
    pub phase: Phase,
    /// The `create` (or `run`) command that is making the container.
    pub creator: ProcessId,
    /// The container's init, recorded the moment it exists.
    pub init: Option<ProcessId>,
    /// A runtime-side hook running right now: its pid, which is also its
    /// process group, so `delete --force` can kill what it started.
    #[serde(default)]
    pub hook: Option<ProcessId>,
    /// The container's cgroup directories, recorded before they are made.
    #[serde(default)]
    pub cgroup: crate::cgroups::Cgroup,
    /// The config, kept for hooks at start and delete, and for exec.
    pub config: oci_spec::runtime::Spec,
}

/// The spec's lifecycle states, as `state` reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    /// Running, but every process frozen (`pause`).
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// The directory that holds every container's state.
pub struct Store {
    pub root: PathBuf,
}

/// One container's directory, locked or not.
pub struct Container {
    pub id: String,
    pub dir: PathBuf,
    pub record: Record,
    /// Held while a command changes the container.
    lock: Option<File>,
}

/// Ids become directory names: refuse anything that could name another path.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+' | ':' | '@'))
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid container id {id:?}: an id is non-empty, does not start with '.', and uses only letters, digits and _-.+:@"
        )))
    }
}

impl Store {
    pub fn new(root: &Path) -> Store {
        Store {
            root: root.to_path_buf(),
        }
    }

    fn dir_of(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Make the container's directory with its first record, atomically:
    /// build it as `.<id>.<pid>`, then rename it to `<id>`. The rename fails
    /// if the id exists, so two concurrent `create`s have one winner.
    /// Fail early, before anything is worked out, if the id is taken
    /// (`create` checks again, atomically, when it publishes the record).
    pub fn check_free(&self, id: &str) -> Result<()> {
        let dir = self.dir_of(id);
        if dir.exists() {
            return Err(exists_error(id, &dir));
        }
        Ok(())
    }

    pub fn create(&self, record: Record) -> Result<Container> {
        let id = record.id.clone();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.root)
            .map_err(|e| Error::Other(format!("state root {}: {e}", self.root.display())))?;
        let dir = self.dir_of(&id);
        if dir.exists() {
            return Err(exists_error(&id, &dir));
        }
        let tmp = self.root.join(format!(".{id}.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::DirBuilder::new()
            .mode(0o711)
            .create(&tmp)
            .map_err(|e| Error::Other(format!("state directory {}: {e}", tmp.display())))?;
        write_record(&tmp, &record)?;
        crate::explain::note(
            "rename",
            format_args!("{} -> {}", tmp.display(), dir.display()),
            "publish the record (status creating) before anything is made, so a crash leaves a trace delete --force can follow",
        );
        if let Err(e) = std::fs::rename(&tmp, &dir) {
            let _ = std::fs::remove_dir_all(&tmp);
            if matches!(e.raw_os_error(), Some(libc::EEXIST | libc::ENOTEMPTY)) {
                return Err(exists_error(&id, &dir));
            }
            return Err(Error::Other(format!(
                "state directory {}: {e}",
                dir.display()
            )));
        }
        let lock = lock_dir(&dir, &id)?;
        // Between the rename and the lock a `delete --force` may have won.
        if !dir.join("state.json").exists() {
            return Err(Error::container(
                &id,
                "was deleted while it was being created",
            ));
        }
        Ok(Container {
            id,
            dir,
            record,
            lock: Some(lock),
        })
    }

    /// Read a container's record without locking (for `state`, `list`).
    pub fn read(&self, id: &str) -> Result<Container> {
        check_id(id)?;
        let dir = self.dir_of(id);
        let record = read_record(&dir, id)?;
        Ok(Container {
            id: id.to_string(),
            dir,
            record,
            lock: None,
        })
    }

    /// Lock a container for a change, then read its record.
    pub fn lock(&self, id: &str) -> Result<Container> {
        check_id(id)?;
        let dir = self.dir_of(id);
        let lock = lock_dir(&dir, id)?;
        let record = read_record(&dir, id)?;
        Ok(Container {
            id: id.to_string(),
            dir,
            record,
            lock: Some(lock),
        })
    }

    /// Remove a container directory whose record is missing or cannot be
    /// read (torn by a power loss, or cut short by an older puncker killed
    /// mid-delete): `delete --force` only.
    pub fn remove_unreadable(&self, id: &str) -> Result<()> {
        check_id(id)?;
        let dir = self.dir_of(id);
        std::fs::remove_dir_all(&dir)
            .map_err(|e| Error::Other(format!("removing {}: {e}", dir.display())))
    }

    /// Ids of every container, sorted.
    pub fn ids(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        ids.sort();
        ids
    }

    /// Remove the temporary directories of `create`s that were killed before
    /// their rename (their creator pid is gone).
    pub fn sweep_abandoned(&self, id: &str) {
        let prefix = format!(".{id}.");
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_prefix(&prefix) else {
                continue;
            };
            let alive = pid
                .parse::<i32>()
                .is_ok_and(|p| Path::new(&format!("/proc/{p}")).exists());
            if !alive {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

fn exists_error(id: &str, dir: &Path) -> Error {
    let half_made = read_record(dir, id)
        .map(|r| r.phase == Phase::Creating)
        .unwrap_or(true);
    if half_made {
        Error::container(
            id,
            "already exists (half-made by an interrupted create; run `puncker delete --force` on it)",
        )
    } else {
        Error::container(id, "already exists")
    }
}

fn lock_dir(dir: &Path, id: &str) -> Result<File> {
    let f = File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => Error::container(id, "does not exist"),
            _ => Error::Other(format!("state directory {}: {e}", dir.display())),
        })?;
    crate::sys::flock_exclusive(&f).map_err(|errno| Error::Kernel {
        call: "flock".into(),
        target: dir.display().to_string(),
        errno,
    })?;
    Ok(f)
}

fn read_record(dir: &Path, id: &str) -> Result<Record> {
    let text = std::fs::read(dir.join("state.json")).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) => Error::container(id, "does not exist"),
        _ => Error::Other(format!("{}: {e}", dir.join("state.json").display())),
    })?;
    serde_json::from_slice(&text).map_err(|e| {
        Error::Other(format!(
            "{}: corrupt state record: {e}",
            dir.join("state.json").display()
        ))
    })
}

/// Write the record atomically: a temporary file, then rename over the old.
///
/// A killed command leaves the old record or the new, never half of one.
/// There is deliberately no fsync: it only guards against the machine
/// losing power, which ends every container anyway, and it cost ~6 ms per
/// record on a disk-backed `--root` (three per create). A record torn by a
/// power loss reads as corrupt, and `delete --force` removes it.
fn write_record(dir: &Path, record: &Record) -> Result<()> {
    let tmp = dir.join("state.json.tmp");
    let path = dir.join("state.json");
    let fail = |e: std::io::Error| Error::Other(format!("writing {}: {e}", path.display()));
    let bytes = serde_json::to_vec(record).map_err(|e| Error::Other(e.to_string()))?;
    let mut f = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(fail)?;
    f.write_all(&bytes).map_err(fail)?;
    std::fs::rename(&tmp, &path).map_err(fail)
}

impl Container {
    /// Close this copy of the lock fd without unlocking: for the cloned
    /// init, which must not keep the runtime's lock alive.
    pub fn release_lock(&mut self) {
        self.lock = None;
    }

    pub fn save(&self) -> Result<()> {
        write_record(&self.dir, &self.record)
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.dir.join("exec.fifo")
    }

    /// The container's status, derived from the real processes.
    pub fn status(&self) -> Status {
        let r = &self.record;
        match r.init {
            Some(init) if init.is_alive() => match r.phase {
                Phase::Creating => Status::Creating,
                Phase::Created if self.fifo_path().exists() => Status::Created,
                Phase::Created if crate::cgroups::freezer::is_frozen(&r.cgroup) => Status::Paused,
                Phase::Created => Status::Running,
            },
            Some(_) => Status::Stopped,
            None if r.phase == Phase::Creating && r.creator.is_alive() => Status::Creating,
            None => Status::Stopped,
        }
    }

    /// The pid `state` reports: the init's while it lives, else 0.
    pub fn pid(&self) -> i32 {
        match self.record.init {
            Some(p) if p.is_alive() => p.pid,
            _ => 0,
        }
    }

    /// The spec's state object, as `state` prints it and hooks read it.
    pub fn oci_state(&self, status: Status) -> serde_json::Value {
        let r = &self.record;
        let mut s = serde_json::json!({
            "ociVersion": crate::config::OCI_VERSION,
            "id": self.id,
            "status": status.as_str(),
            "pid": self.pid(),
            "bundle": r.bundle,
            "rootfs": r.rootfs,
            "created": r.created,
            "owner": if r.owner == 0 { String::new() } else { r.owner.to_string() },
        });
        if let Some(a) = r.config.annotations() {
            s["annotations"] = serde_json::json!(a);
        }
        s
    }

    /// The state poststart hooks get: running, with the init's pid even if a
    /// short-lived program has already exited.
    pub fn oci_state_of_started(&self) -> serde_json::Value {
        let mut s = self.oci_state(Status::Running);
        if let Some(init) = self.record.init {
            s["pid"] = init.pid.into();
        }
        s
    }

    /// Remove the container's directory: the last step of a delete.
    ///
    /// The directory is first renamed to `.<id>.<pid>`: the id is gone in
    /// one atomic step, and if this command is killed halfway through the
    /// removal, what is left is a temporary directory that the next
    /// `delete --force` sweeps, never an id without a record.
    pub fn remove(self) -> Result<()> {
        let parent = self.dir.parent().unwrap_or(Path::new("/"));
        let doomed = parent.join(format!(".{}.{}", self.id, std::process::id()));
        let _ = std::fs::remove_dir_all(&doomed);
        std::fs::rename(&self.dir, &doomed)
            .and_then(|()| std::fs::remove_dir_all(&doomed))
            .map_err(|e| Error::Other(format!("removing {}: {e}", self.dir.display())))
    }
}
