//! The bundle's `config.json`: loading it, checking what the runtime relies
//! on, and writing the default one for `puncker spec`.
//!
//! The spec's types come from the `oci-spec` crate. Parsing goes through
//! `serde_json` directly so a syntax error names its line and column.

use crate::error::{Error, Result};
use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

/// The spec version this runtime implements.
pub const OCI_VERSION: &str = "1.3.0";

/// A loaded bundle: its directory, its config, and its rootfs made absolute.
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
}

pub fn load_bundle(dir: &Path) -> Result<Bundle> {
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| Error::config(dir.display(), format!("bundle directory: {e}")))?;
    let file = dir.join("config.json");
    let text = std::fs::read(&file)
        .map_err(|e| Error::config(file.display(), format!("cannot read: {e}")))?;
    let spec: Spec = match serde_json::from_slice(&text) {
        Ok(spec) => spec,
        Err(e) => {
            with_crate_scheduler_flag_names(&text, "/process/scheduler/flags").ok_or_else(|| {
                let msg = match name_the_bad_field(&text) {
                    Some(field) => format!("{field} (line {}, column {})", e.line(), e.column()),
                    None => e.to_string(),
                };
                Error::config(file.display(), format!("invalid config: {msg}"))
            })?
        }
    };
    let rootfs = check_spec(&file, &dir, &spec)?;
    crate::explain::note(
        "read",
        format_args!("{}", file.display()),
        "the bundle's config.json says what container to make",
    );
    Ok(Bundle { dir, spec, rootfs })
}

/// oci-spec 0.10 spells two of the spec's `process.scheduler.flags` its
/// own way (SCHED_RESET_ON_FORK, SCHED_FLAG_D_L_OVERRUN): a config (or an
/// exec's process JSON) that uses the spec's names is read again with the
/// crate's. `flags_at` is the JSON pointer of the flags list.
pub fn with_crate_scheduler_flag_names<T: serde::de::DeserializeOwned>(
    text: &[u8],
    flags_at: &str,
) -> Option<T> {
    let mut v: serde_json::Value = serde_json::from_slice(text).ok()?;
    let flags = v.pointer_mut(flags_at)?.as_array_mut()?;
    let mut renamed = false;
    for f in flags.iter_mut() {
        let crate_name = match f.as_str() {
            Some("SCHED_FLAG_RESET_ON_FORK") => "SCHED_RESET_ON_FORK",
            Some("SCHED_FLAG_DL_OVERRUN") => "SCHED_FLAG_D_L_OVERRUN",
            _ => continue,
        };
        *f = crate_name.into();
        renamed = true;
    }
    if !renamed {
        return None;
    }
    serde_json::from_value(v).ok()
}

/// serde names a line and column; for the fields people get wrong most
/// (seccomp's names, capability names) say which field, as the spec names it.
fn name_the_bad_field(text: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(text).ok()?;
    if let Some(s) = v.pointer("/linux/seccomp") {
        if let Some(msg) = crate::seccomp::find_bad_field(s) {
            return Some(msg);
        }
    }
    let caps = v.pointer("/process/capabilities")?;
    [
        "bounding",
        "effective",
        "inheritable",
        "permitted",
        "ambient",
    ]
    .iter()
    .find_map(|set| {
        let names = caps.get(set)?.as_array()?;
        names.iter().enumerate().find_map(|(i, name)| {
            serde_json::from_value::<oci_spec::runtime::Capability>(name.clone())
                .is_err()
                .then(|| format!("process.capabilities.{set}[{i}]: {name} is not a capability"))
        })
    })
}

/// `path: what is wrong` if `v` (absent counts as null) is not a `T`.
pub fn field_error<T: serde::de::DeserializeOwned>(
    v: Option<&serde_json::Value>,
    path: &str,
) -> Option<String> {
    let v = v.cloned().unwrap_or(serde_json::Value::Null);
    serde_json::from_value::<T>(v)
        .err()
        .map(|e| format!("{path}: {e}"))
}

/// [`field_error`] for each element of an optional array.
pub fn each_field_error<T: serde::de::DeserializeOwned>(
    v: Option<&serde_json::Value>,
    path: &str,
) -> Option<String> {
    let items = v?.as_array()?;
    items
        .iter()
        .enumerate()
        .find_map(|(i, item)| field_error::<T>(Some(item), &format!("{path}[{i}]")))
}

/// Check what the spec requires before anything is made, so a bad config
/// fails with nothing to clean up.
fn check_spec(file: &Path, dir: &Path, spec: &Spec) -> Result<PathBuf> {
    let file = file.display();
    check_version(spec.version()).map_err(|m| Error::config(&file, m))?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::config(&file, "root.path is required"))?;
    if root.path().as_os_str().is_empty() {
        return Err(Error::config(&file, "root.path is required"));
    }
    let rootfs = dir.join(root.path());
    let rootfs = std::fs::canonicalize(&rootfs).map_err(|e| {
        Error::config(
            &file,
            format!("root.path: rootfs {} is unusable: {e}", rootfs.display()),
        )
    })?;
    if !rootfs.is_dir() {
        return Err(Error::config(
            &file,
            format!("root.path: {} is not a directory", rootfs.display()),
        ));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::config(&file, "process is required"))?;
    check_process(process).map_err(|m| Error::config(&file, m))?;
    if spec.linux().is_none() {
        return Err(Error::config(&file, "linux is required on Linux"));
    }
    Ok(rootfs)
}

/// Checks shared by `config.json` and `exec --process`.
pub fn check_process(process: &oci_spec::runtime::Process) -> std::result::Result<(), String> {
    match process.args() {
        Some(a) if !a.is_empty() && !a[0].is_empty() => {}
        _ => return Err("process.args must name a program to run".into()),
    }
    if !process.cwd().is_absolute() {
        return Err(format!(
            "process.cwd must be an absolute path, not {:?}",
            process.cwd()
        ));
    }
    Ok(())
}

/// Any 1.x version is accepted: the spec promises compatibility within a
/// major version, and runtimes in the wild write "1.0.2-dev" and the like.
fn check_version(v: &str) -> std::result::Result<(), String> {
    let major = v.split('.').next().unwrap_or("");
    if major == "1" && v.split('.').count() >= 2 {
        Ok(())
    } else {
        Err(format!(
            "ociVersion {v:?} is not supported (puncker implements 1.x up to {OCI_VERSION})"
        ))
    }
}

/// The config `puncker spec` writes: a busybox-friendly container with the
/// namespaces, mounts and confinement most runtimes use by default.
pub fn default_spec(rootless: bool) -> serde_json::Value {
    let caps = serde_json::json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut namespaces = vec![
        serde_json::json!({"type": "pid"}),
        serde_json::json!({"type": "network"}),
        serde_json::json!({"type": "ipc"}),
        serde_json::json!({"type": "uts"}),
        serde_json::json!({"type": "mount"}),
        serde_json::json!({"type": "cgroup"}),
    ];
    let mut linux = serde_json::json!({
        "maskedPaths": [
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
            "/proc/sched_debug", "/sys/firmware", "/sys/devices/virtual/powercap",
            "/proc/scsi"
        ],
        "readonlyPaths": [
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
        ]
    });
    if rootless {
        namespaces.retain(|n| n["type"] != "network");
        namespaces.push(serde_json::json!({"type": "user"}));
        let uid = nix::unistd::getuid().as_raw();
        let gid = nix::unistd::getgid().as_raw();
        linux["uidMappings"] = serde_json::json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        linux["gidMappings"] = serde_json::json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    }
    linux["namespaces"] = serde_json::Value::Array(namespaces);
    serde_json::json!({
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "puncker",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": linux
    })
}
