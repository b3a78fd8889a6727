//! cgroup v2: one tree for every controller, with a single interface.
//!
//! A controller works in a cgroup only if its parent lists it in
//! `cgroup.subtree_control`, so each ancestor must hand it down. Some v1
//! values have a different shape here: swap is limited on its own (the
//! spec's `swap` is memory plus swap), cpu shares become a weight from 1
//! to 10000, "unlimited" is spelled `max`, and device rules are a BPF
//! program instead of files. `linux.resources.unified` writes any v2 file
//! directly.

use super::{limit, write_file, Dir};
use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

/// Hand the controllers down from the hierarchy's root to the container's
/// cgroup, enabling each in every ancestor's `cgroup.subtree_control`.
pub fn enable_controllers(d: &Dir, controllers: &[&str]) -> Result<()> {
    if controllers.is_empty() {
        return Ok(());
    }
    let mut ancestor = d.mount.clone();
    let levels: Vec<&str> = d.path.split('/').filter(|c| !c.is_empty()).collect();
    for level in &levels {
        let enabled =
            std::fs::read_to_string(ancestor.join("cgroup.subtree_control")).unwrap_or_default();
        let missing: Vec<String> = controllers
            .iter()
            .filter(|c| !enabled.split_whitespace().any(|e| e == **c))
            .map(|c| format!("+{c}"))
            .collect();
        if !missing.is_empty() {
            let here = Dir {
                path: ancestor
                    .strip_prefix(&d.mount)
                    .map(|p| format!("/{}", p.display()))
                    .unwrap_or_default(),
                ..d.clone()
            };
            write_file(
                &here,
                "cgroup.subtree_control",
                &missing.join(" "),
                "a controller works in a cgroup only if every ancestor hands it down",
            )
            .map_err(|e| match e.errno() {
                // v2's "no internal processes" rule.
                Some(nix::errno::Errno::EBUSY) => Error::Other(format!(
                    "{e}: {} holds processes of its own, so it cannot hand controllers down to the container's cgroup; give an absolute linux.cgroupsPath outside it",
                    ancestor.display()
                )),
                _ => e,
            })?;
        }
        ancestor.push(level);
    }
    Ok(())
}

/// Write the `linux.resources` whose controllers live in this tree
/// (`here` says which do; on a hybrid host most live in v1).
pub fn apply(d: &Dir, r: &LinuxResources, here: impl Fn(&str) -> bool, file: &str) -> Result<()> {
    if let (true, Some(m)) = (here("memory"), r.memory()) {
        memory(d, m, file)?;
    }
    if let (true, Some(p)) = (here("pids"), r.pids()) {
        if p.limit() != 0 {
            let v = limit(p.limit(), "linux.resources.pids.limit", "max", file)?;
            write_file(d, "pids.max", &v, "linux.resources.pids.limit")?;
        }
    }
    if let Some(c) = r.cpu() {
        if here("cpu") {
            cpu(d, c, file)?;
        }
        if here("cpuset") {
            super::v1::cpuset(d, c)?;
        }
    }
    if let (true, Some(b)) = (here("io"), r.block_io()) {
        io(d, b)?;
    }
    if let (true, Some(h)) = (here("hugetlb"), r.hugepage_limits()) {
        for (i, h) in h.iter().enumerate() {
            let field = format!("linux.resources.hugepageLimits[{i}]");
            let v = limit(h.limit(), &field, "max", file)?;
            write_file(d, &format!("hugetlb.{}.max", h.page_size()), &v, &field)?;
        }
    }
    if let (true, Some(rdma)) = (here("rdma"), r.rdma()) {
        for line in super::rdma_lines(rdma) {
            write_file(d, "rdma.max", &line, "linux.resources.rdma")?;
        }
    }
    if let Some(u) = r.unified() {
        unified(d, u, file)?;
    }
    Ok(())
}

fn memory(d: &Dir, m: &LinuxMemory, file: &str) -> Result<()> {
    if let Some(v) = m.limit() {
        let v = limit(v, "linux.resources.memory.limit", "max", file)?;
        write_file(d, "memory.max", &v, "linux.resources.memory.limit")?;
    }
    if let Some(v) = m.reservation() {
        let v = limit(v, "linux.resources.memory.reservation", "max", file)?;
        write_file(d, "memory.low", &v, "linux.resources.memory.reservation")?;
    }
    if let Some(swap) = m.swap() {
        let field = "linux.resources.memory.swap";
        // The spec's swap is memory + swap; v2 limits the swap alone.
        let value = match (swap, m.limit()) {
            (-1, _) | (_, Some(-1)) => "max".to_string(),
            (s, Some(l)) if s >= l && l >= 0 => (s - l).to_string(),
            (s, Some(l)) => {
                return Err(Error::config(
                    file,
                    format!("{field} ({s}) is memory plus swap, so it must be at least linux.resources.memory.limit ({l})"),
                ))
            }
            (s, None) => limit(s, field, "max", file)?,
        };
        write_file(d, "memory.swap.max", &value, field)?;
    }
    if m.disable_oom_killer() == Some(true) {
        crate::explain::warn(
            "linux.resources.memory.disableOOMKiller is ignored: cgroup v2 cannot turn off the OOM killer",
        );
    }
    if m.swappiness().is_some_and(|s| s != 60) {
        return Err(Error::config(
            file,
            "linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness",
        ));
    }
    Ok(())
}

fn cpu(d: &Dir, c: &LinuxCpu, file: &str) -> Result<()> {
    if let Some(shares) = c.shares().filter(|v| *v != 0) {
        // v1 shares run from 2 to 262144, v2 weights from 1 to 10000: map
        // one range onto the other, as other runtimes do.
        let shares = shares.clamp(2, 262_144);
        let weight = 1 + ((shares - 2) * 9999) / 262_142;
        write_file(
            d,
            "cpu.weight",
            &weight.to_string(),
            "linux.resources.cpu.shares",
        )?;
    }
    let (quota, period) = (
        c.quota().filter(|v| *v != 0),
        c.period().filter(|v| *v != 0),
    );
    if quota.is_some() || period.is_some() {
        let quota = match quota {
            Some(q) => limit(q, "linux.resources.cpu.quota", "max", file)?,
            None => "max".to_string(),
        };
        let period = period.unwrap_or(100_000);
        write_file(
            d,
            "cpu.max",
            &format!("{quota} {period}"),
            "linux.resources.cpu.quota/period",
        )?;
    }
    if let Some(v) = c.burst() {
        write_file(
            d,
            "cpu.max.burst",
            &v.to_string(),
            "linux.resources.cpu.burst",
        )?;
    }
    if let Some(v) = c.idle() {
        write_file(d, "cpu.idle", &v.to_string(), "linux.resources.cpu.idle")?;
    }
    if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
        return Err(Error::config(
            file,
            "linux.resources.cpu.realtimeRuntime/realtimePeriod: cgroup v2 has no real-time cpu budget",
        ));
    }
    Ok(())
}

fn io(d: &Dir, b: &LinuxBlockIo) -> Result<()> {
    // v1 weights run from 10 to 1000, v2's from 1 to 10000.
    let weight = |w: u16| 1 + (u64::from(w.clamp(10, 1000)) - 10) * 9999 / 990;
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        let v = format!("default {}", weight(w));
        write_file(d, "io.weight", &v, "linux.resources.blockIO.weight")?;
    }
    for w in b.weight_device().iter().flatten() {
        if let Some(v) = w.weight().filter(|v| *v != 0) {
            let line = format!("{}:{} {}", w.major(), w.minor(), weight(v));
            write_file(
                d,
                "io.weight",
                &line,
                "linux.resources.blockIO.weightDevice",
            )?;
        }
    }
    let throttles = [
        (
            b.throttle_read_bps_device(),
            "rbps",
            "throttleReadBpsDevice",
        ),
        (
            b.throttle_write_bps_device(),
            "wbps",
            "throttleWriteBpsDevice",
        ),
        (
            b.throttle_read_iops_device(),
            "riops",
            "throttleReadIOPSDevice",
        ),
        (
            b.throttle_write_iops_device(),
            "wiops",
            "throttleWriteIOPSDevice",
        ),
    ];
    for (list, key, field) in throttles {
        for t in list.iter().flatten() {
            let line = format!("{}:{} {key}={}", t.major(), t.minor(), t.rate());
            write_file(
                d,
                "io.max",
                &line,
                &format!("linux.resources.blockIO.{field}"),
            )?;
        }
    }
    Ok(())
}

/// `linux.resources.unified`: file names and values written as given, but
/// only files of this cgroup (no path may lead elsewhere).
fn unified(d: &Dir, u: &std::collections::HashMap<String, String>, file: &str) -> Result<()> {
    let mut keys: Vec<&String> = u.keys().collect();
    keys.sort();
    for key in keys {
        let field = format!("linux.resources.unified[{key:?}]");
        if key.contains('/') || key.starts_with('.') || !key.contains('.') {
            return Err(Error::config(
                file,
                format!("{field}: not a cgroup v2 file name (controller.file, no '/')"),
            ));
        }
        if matches!(
            key.as_str(),
            "cgroup.procs" | "cgroup.threads" | "cgroup.kill"
        ) {
            // These move or kill processes: config must not reach outside
            // the container, and delete would kill what was moved in.
            return Err(Error::config(
                file,
                format!("{field}: a config may set limits, not move or kill processes"),
            ));
        }
        if !d.host_path().join(key).exists() {
            return Err(Error::config(
                file,
                format!("{field}: the container's cgroup has no such file (unknown key, or its controller is not enabled on this host)"),
            ));
        }
        write_file(d, key, &u[key], &field)?;
    }
    Ok(())
}

/// Device rules on v2: a BPF program attached to the cgroup, consulted by
/// the kernel on every open or mknod of a device node.
pub fn devices(d: &Dir, rules: &[super::DeviceRule]) -> Result<()> {
    use super::devices_bpf::{install, Kind, Rule};
    let rules: Vec<Rule> = rules
        .iter()
        .map(|r| Rule {
            allow: r.allow,
            kind: match r.kind {
                'c' => Kind::Char,
                'b' => Kind::Block,
                _ => Kind::All,
            },
            major: r.major,
            minor: r.minor,
            access: r.access.clone(),
        })
        .collect();
    install(&d.host_path(), &rules)
}
