//! User namespaces, id maps, and the container process's credentials.
//!
//! In a new user namespace every uid and gid starts unmapped (it reads as
//! 65534). The runtime, outside, writes `/proc/PID/uid_map` and `gid_map`
//! from `linux.uidMappings` and `gidMappings`: "container id X is host id
//! Y, for N ids". Each map can be written once. Only then can the init
//! become root *of the namespace* and create files with sane owners.
//!
//! At the end of setup the init takes on `process.user`: supplementary
//! groups, gid, then uid (gid first: after the uid change it would no
//! longer be allowed), and the umask.

use crate::error::Result;
use crate::explain;
use nix::unistd::{Gid, Pid, Uid};
use oci_spec::runtime::{LinuxIdMapping, User};

fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

fn write_map(
    pid: Pid,
    file: &'static str,
    call: &'static str,
    maps: &[LinuxIdMapping],
) -> Result<()> {
    let text = map_text(maps);
    let path = format!("/proc/{pid}/{file}");
    explain::kernel(
        call,
        format_args!("{path} = {:?}", text.trim_end()),
        "tell the kernel which host ids the container's ids stand for",
        || {
            std::fs::write(&path, &text)
                .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)))
        },
    )
}

/// Called by the runtime right after the clone, while the init waits.
pub fn write_id_maps(pid: Pid, linux: &oci_spec::runtime::Linux) -> Result<()> {
    if let Some(maps) = linux.uid_mappings() {
        write_map(pid, "uid_map", "write uid_map", maps)?;
    }
    if let Some(maps) = linux.gid_mappings() {
        write_map(pid, "gid_map", "write gid_map", maps)?;
    }
    Ok(())
}

/// The host uid and gid that root of `pid`'s user namespace stands for,
/// from its `uid_map` and `gid_map`.
pub fn root_host_ids(pid: Pid) -> (Option<u32>, Option<u32>) {
    let root_of = |file: &str| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<u32> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (f.len() == 3 && f[0] == 0).then(|| f[1])
        })
    };
    (root_of("uid_map"), root_of("gid_map"))
}

/// In the init, once the maps exist: become root of the new namespace.
pub fn become_namespace_root() -> Result<()> {
    let root = (Uid::from_raw(0), Gid::from_raw(0));
    explain::kernel(
        "setresgid",
        format_args!("(0, 0, 0)"),
        "take the namespace's root gid now that it is mapped",
        || nix::unistd::setresgid(root.1, root.1, root.1),
    )?;
    explain::kernel(
        "setresuid",
        format_args!("(0, 0, 0)"),
        "take the namespace's root uid now that it is mapped",
        || nix::unistd::setresuid(root.0, root.0, root.0),
    )
}

/// Switch to `process.user`. Capabilities survive it because the caller
/// set PR_SET_KEEPCAPS; [`crate::capabilities`] then sets the final sets.
pub fn switch_to_user(user: &User) -> Result<()> {
    let gid = Gid::from_raw(user.gid());
    let uid = Uid::from_raw(user.uid());
    let mut groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    groups.dedup();
    // setgroups is refused in a user namespace whose setgroups file says
    // "deny" (rootless): then only an empty list can be meant.
    let setgroups_allowed = std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true);
    if setgroups_allowed {
        explain::kernel(
            "setgroups",
            format_args!("{:?}", user.additional_gids().as_deref().unwrap_or(&[])),
            "supplementary groups from process.user.additionalGids, and no others",
            || nix::unistd::setgroups(&groups),
        )?;
    }
    explain::kernel(
        "setresgid",
        format_args!("({gid}, {gid}, {gid})"),
        "the gid from process.user, before the uid change takes the right away",
        || nix::unistd::setresgid(gid, gid, gid),
    )?;
    explain::kernel(
        "setresuid",
        format_args!("({uid}, {uid}, {uid})"),
        "the uid from process.user",
        || nix::unistd::setresuid(uid, uid, uid),
    )?;
    Ok(())
}

/// The umask from `process.user.umask`, 0022 when unset.
pub fn set_umask(user: &User) {
    let mask = user.umask().unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    explain::note(
        "umask",
        format_args!("{mask:04o}"),
        "the file mode mask the container's process starts with",
    );
}
