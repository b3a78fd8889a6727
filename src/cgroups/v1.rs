//! cgroup v1: one hierarchy per controller, each with its own files
//! (`memory.limit_in_bytes`, `cpu.cfs_quota_us`, `devices.allow`...).
//!
//! The spec's values map almost one to one onto v1's files, which is the
//! interface the spec was first written for. Each function below writes
//! one controller's part of `linux.resources`, in the directory of the
//! hierarchy that holds that controller.

use super::{limit, write_file, Dir};
use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

/// Write the `linux.resources` that belong to this hierarchy.
pub fn apply(d: &Dir, r: &LinuxResources, file: &str) -> Result<()> {
    if let (true, Some(m)) = (d.has("memory"), r.memory()) {
        memory(d, m, file)?;
    }
    if let (true, Some(p)) = (d.has("pids"), r.pids()) {
        if p.limit() != 0 {
            let v = limit(p.limit(), "linux.resources.pids.limit", "max", file)?;
            write_file(d, "pids.max", &v, "linux.resources.pids.limit")?;
        }
    }
    if let Some(c) = r.cpu() {
        if d.has("cpu") {
            cpu(d, c, file)?;
        }
        if d.has("cpuset") {
            cpuset(d, c)?;
        }
    }
    if let (true, Some(b)) = (d.has("blkio"), r.block_io()) {
        blkio(d, b)?;
    }
    if let (true, Some(h)) = (d.has("hugetlb"), r.hugepage_limits()) {
        for (i, h) in h.iter().enumerate() {
            let field = format!("linux.resources.hugepageLimits[{i}]");
            let v = limit(h.limit(), &field, "-1", file)?;
            write_file(
                d,
                &format!("hugetlb.{}.limit_in_bytes", h.page_size()),
                &v,
                &field,
            )?;
        }
    }
    if let Some(n) = r.network() {
        if let (true, Some(id)) = (d.has("net_cls"), n.class_id()) {
            write_file(
                d,
                "net_cls.classid",
                &id.to_string(),
                "linux.resources.network.classID",
            )?;
        }
        if let (true, Some(p)) = (d.has("net_prio"), n.priorities()) {
            for p in p {
                let v = format!("{} {}", p.name(), p.priority());
                write_file(
                    d,
                    "net_prio.ifpriomap",
                    &v,
                    "linux.resources.network.priorities",
                )?;
            }
        }
    }
    if let (true, Some(rdma)) = (d.has("rdma"), r.rdma()) {
        for line in super::rdma_lines(rdma) {
            write_file(d, "rdma.max", &line, "linux.resources.rdma")?;
        }
    }
    if let (true, Some(rules)) = (d.has("devices"), r.devices()) {
        devices(d, rules, file)?;
    }
    Ok(())
}

fn memory(d: &Dir, m: &LinuxMemory, file: &str) -> Result<()> {
    if let (Some(s), Some(l)) = (m.swap(), m.limit()) {
        if s != -1 && l != -1 && s < l {
            return Err(Error::config(
                file,
                format!("linux.resources.memory.swap ({s}) is memory plus swap, so it must be at least linux.resources.memory.limit ({l})"),
            ));
        }
    }
    // memory+swap may never be below memory: raising both, swap goes first.
    let memsw = d.host_path().join("memory.memsw.limit_in_bytes");
    let current_memsw: i64 = std::fs::read_to_string(&memsw)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(i64::MAX);
    let swap_first = matches!((m.limit(), m.swap()), (Some(l), Some(s)) if s != -1 && (l == -1 || l > current_memsw));
    if swap_first {
        swap(d, m, file)?;
    }
    if let Some(v) = m.limit() {
        let v = limit(v, "linux.resources.memory.limit", "-1", file)?;
        write_file(
            d,
            "memory.limit_in_bytes",
            &v,
            "linux.resources.memory.limit",
        )?;
    }
    if let Some(v) = m.reservation() {
        let v = limit(v, "linux.resources.memory.reservation", "-1", file)?;
        write_file(
            d,
            "memory.soft_limit_in_bytes",
            &v,
            "linux.resources.memory.reservation",
        )?;
    }
    if !swap_first {
        swap(d, m, file)?;
    }
    if let Some(v) = m.swappiness() {
        let field = "linux.resources.memory.swappiness";
        if v > 100 {
            return Err(Error::config(
                file,
                format!("{field} is {v}; it must be 0 to 100"),
            ));
        }
        write_file(d, "memory.swappiness", &v.to_string(), field)?;
    }
    if m.disable_oom_killer() == Some(true) {
        write_file(
            d,
            "memory.oom_control",
            "1",
            "linux.resources.memory.disableOOMKiller",
        )?;
    }
    Ok(())
}

/// `memory.swap` is memory plus swap on v1 too: memory.memsw.limit_in_bytes.
fn swap(d: &Dir, m: &LinuxMemory, file: &str) -> Result<()> {
    if let Some(v) = m.swap() {
        let field = "linux.resources.memory.swap";
        if !d.host_path().join("memory.memsw.limit_in_bytes").exists() {
            return Err(Error::Other(format!(
                "{field}: this kernel does not account swap (no memory.memsw.limit_in_bytes; boot with swapaccount=1)"
            )));
        }
        write_file(
            d,
            "memory.memsw.limit_in_bytes",
            &limit(v, field, "-1", file)?,
            field,
        )?;
    }
    Ok(())
}

fn cpu(d: &Dir, c: &LinuxCpu, file: &str) -> Result<()> {
    if let Some(v) = c.shares().filter(|v| *v != 0) {
        write_file(
            d,
            "cpu.shares",
            &v.to_string(),
            "linux.resources.cpu.shares",
        )?;
    }
    // The period first: the kernel checks the quota against it.
    if let Some(v) = c.period().filter(|v| *v != 0) {
        write_file(
            d,
            "cpu.cfs_period_us",
            &v.to_string(),
            "linux.resources.cpu.period",
        )?;
    }
    if let Some(v) = c.quota().filter(|v| *v != 0) {
        let v = limit(v, "linux.resources.cpu.quota", "-1", file)?;
        write_file(d, "cpu.cfs_quota_us", &v, "linux.resources.cpu.quota")?;
    }
    if let Some(v) = c.burst() {
        write_file(
            d,
            "cpu.cfs_burst_us",
            &v.to_string(),
            "linux.resources.cpu.burst",
        )?;
    }
    if let Some(v) = c.realtime_period().filter(|v| *v != 0) {
        write_file(
            d,
            "cpu.rt_period_us",
            &v.to_string(),
            "linux.resources.cpu.realtimePeriod",
        )?;
    }
    if let Some(v) = c.realtime_runtime().filter(|v| *v != 0) {
        write_file(
            d,
            "cpu.rt_runtime_us",
            &v.to_string(),
            "linux.resources.cpu.realtimeRuntime",
        )?;
    }
    if let Some(v) = c.idle() {
        write_file(d, "cpu.idle", &v.to_string(), "linux.resources.cpu.idle")?;
    }
    Ok(())
}

pub(super) fn cpuset(d: &Dir, c: &LinuxCpu) -> Result<()> {
    if let Some(v) = c.cpus().as_deref().filter(|v| !v.is_empty()) {
        write_file(d, "cpuset.cpus", v, "linux.resources.cpu.cpus")?;
    }
    if let Some(v) = c.mems().as_deref().filter(|v| !v.is_empty()) {
        write_file(d, "cpuset.mems", v, "linux.resources.cpu.mems")?;
    }
    Ok(())
}

fn blkio(d: &Dir, b: &LinuxBlockIo) -> Result<()> {
    // Newer kernels weigh with the BFQ scheduler's file only.
    let weight_file = if d.host_path().join("blkio.weight").exists() {
        "blkio.weight"
    } else {
        "blkio.bfq.weight"
    };
    if let Some(v) = b.weight().filter(|v| *v != 0) {
        write_file(
            d,
            weight_file,
            &v.to_string(),
            "linux.resources.blockIO.weight",
        )?;
    }
    if let Some(v) = b.leaf_weight().filter(|v| *v != 0) {
        write_file(
            d,
            "blkio.leaf_weight",
            &v.to_string(),
            "linux.resources.blockIO.leafWeight",
        )?;
    }
    for w in b.weight_device().iter().flatten() {
        if let Some(v) = w.weight().filter(|v| *v != 0) {
            let line = format!("{}:{} {v}", w.major(), w.minor());
            write_file(
                d,
                &format!("{weight_file}_device"),
                &line,
                "linux.resources.blockIO.weightDevice",
            )?;
        }
    }
    let throttles = [
        (
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
            "throttleReadBpsDevice",
        ),
        (
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
            "throttleWriteBpsDevice",
        ),
        (
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
            "throttleReadIOPSDevice",
        ),
        (
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
            "throttleWriteIOPSDevice",
        ),
    ];
    for (list, name, field) in throttles {
        for t in list.iter().flatten() {
            let line = format!("{}:{} {}", t.major(), t.minor(), t.rate());
            write_file(d, name, &line, &format!("linux.resources.blockIO.{field}"))?;
        }
    }
    Ok(())
}

/// The device rules, in order, each one a line the kernel adds to the
/// cgroup's list: `devices.deny` with type `a` empties the list and denies
/// by default, `devices.allow` adds an exception. Then the devices every
/// container gets are allowed, so a deny-all list cannot break /dev/null.
fn devices(d: &Dir, rules: &[oci_spec::runtime::LinuxDeviceCgroup], file: &str) -> Result<()> {
    for rule in super::device_rules(rules, file)? {
        let target = if rule.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        write_file(d, target, &rule.v1_line(), "linux.resources.devices")?;
    }
    Ok(())
}

/// A new v1 cpuset cgroup starts with no cpus and no memory nodes, and a
/// process cannot join it until it has some: give it its parent's.
pub fn inherit_cpuset(d: &Dir) -> Result<()> {
    let dir = d.host_path();
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        if own.trim().is_empty() {
            let from_parent = std::fs::read_to_string(parent.join(file)).unwrap_or_default();
            write_file(
                d,
                file,
                from_parent.trim(),
                "a new cpuset takes its parent's cpus and mems",
            )?;
        }
    }
    Ok(())
}
