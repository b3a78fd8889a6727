//! Linux security modules: AppArmor profiles and SELinux labels.
//!
//! An LSM confines a process by a policy the host loads, on top of the
//! usual permission checks. The spec names the policy for the container's
//! process: `process.apparmorProfile` (a profile name) or
//! `process.selinuxLabel` (a context). Either is requested by writing it to
//! the process's own `/proc/self/attr/.../exec` file; the kernel switches to
//! it at the next `execve`, so the runtime's own setup is not confined by
//! it. A config that asks for an LSM the host does not run is refused, as
//! runc does: running it unconfined would be silently weaker.

use crate::error::{Error, Result};
use crate::explain;
use oci_spec::runtime::Process;

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim() == "Y")
}

fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

fn wanted(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// At create (or exec): refuse a label the host cannot apply.
pub fn check(process: &Process, source: &str) -> Result<()> {
    if wanted(process.apparmor_profile()).is_some() && !apparmor_enabled() {
        return Err(Error::config(
            source,
            "process.apparmorProfile is set, but AppArmor is not enabled on this host",
        ));
    }
    if wanted(process.selinux_label()).is_some() && !selinux_enabled() {
        return Err(Error::config(
            source,
            "process.selinuxLabel is set, but SELinux is not enabled on this host",
        ));
    }
    Ok(())
}

/// Just before `execve`: ask for the profile or label to take effect at it.
pub fn label_next_exec(process: &Process) -> Result<()> {
    if let Some(profile) = wanted(process.apparmor_profile()) {
        // The AppArmor-specific file exists since Linux 5.8; older kernels
        // only have the shared one.
        let file = if std::path::Path::new("/proc/self/attr/apparmor/exec").exists() {
            "/proc/self/attr/apparmor/exec"
        } else {
            "/proc/self/attr/exec"
        };
        write_attr(
            file,
            &format!("exec {profile}"),
            "process.apparmorProfile: AppArmor confines the program from its execve on",
        )?;
    }
    if let Some(label) = wanted(process.selinux_label()) {
        write_attr(
            "/proc/self/attr/exec",
            label,
            "process.selinuxLabel: SELinux labels the program from its execve on",
        )?;
    }
    Ok(())
}

fn write_attr(file: &str, value: &str, why: &str) -> Result<()> {
    explain::kernel("write", format_args!("{file} = {value:?}"), why, || {
        std::fs::write(file, value)
            .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)))
    })
}
