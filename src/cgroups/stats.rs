//! What a cgroup has counted: cpu time, memory, processes, and OOM kills,
//! for `events`.
//!
//! The kernel keeps these numbers per cgroup whether or not a limit is
//! set. v1 spreads them over its controllers' files (`cpuacct.usage`,
//! `memory.usage_in_bytes`, `pids.current`...); v2 gathers them into a few
//! files per controller (`cpu.stat`, `memory.current`, `memory.stat`...).
//! The JSON shape is the one runc's `events` prints, which tools parse.

use super::Cgroup;
use serde_json::{json, Map, Value};
use std::path::Path;

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok()
}

fn number(dir: &Path, file: &str) -> u64 {
    read(dir, file)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// "key value" lines (`memory.stat`, `cpu.stat`, `memory.events`) as a map.
fn keyed(dir: &Path, file: &str) -> Map<String, Value> {
    read(dir, file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), json!(v.trim().parse::<u64>().ok()?)))
        })
        .collect()
}

fn get(m: &Map<String, Value>, k: &str) -> u64 {
    m.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// A limit file's value: "max" (v2) or a huge number (v1) mean none.
fn limit(dir: &Path, file: &str) -> u64 {
    match read(dir, file).as_deref().map(str::trim) {
        Some("max") | None => u64::MAX,
        Some(v) => v.parse().unwrap_or(u64::MAX),
    }
}

/// One snapshot, as the `data` of a stats event.
pub fn snapshot(cg: &Cgroup) -> Value {
    let mut data = Map::new();
    if let Some(d) = cg
        .with_controller("cpu")
        .or_else(|| cg.with_controller("cpuacct"))
    {
        data.insert("cpu".into(), cpu(cg, &d.host_path(), d.is_v2()));
    }
    if let Some(d) = cg.with_controller("memory") {
        data.insert("memory".into(), memory(&d.host_path(), d.is_v2()));
    }
    if let Some(d) = cg.with_controller("pids") {
        let dir = d.host_path();
        data.insert(
            "pids".into(),
            json!({"current": number(&dir, "pids.current"), "limit": limit(&dir, "pids.max")}),
        );
    }
    Value::Object(data)
}

fn cpu(cg: &Cgroup, dir: &Path, v2: bool) -> Value {
    let stat = keyed(dir, "cpu.stat");
    if v2 {
        let us = |k| get(&stat, k) * 1000;
        return json!({
            "usage": {"total": us("usage_usec"), "kernel": us("system_usec"), "user": us("user_usec")},
            "throttling": {"periods": get(&stat, "nr_periods"), "throttled_periods": get(&stat, "nr_throttled"), "throttled_time": us("throttled_usec")},
        });
    }
    // v1: cpu time is the cpuacct controller's, which may be another hierarchy.
    let acct = cg
        .dirs
        .iter()
        .find(|d| d.has("cpuacct"))
        .map(|d| d.host_path())
        .unwrap_or_else(|| dir.to_path_buf());
    let percpu: Vec<u64> = read(&acct, "cpuacct.usage_percpu")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // cpuacct.stat counts in clock ticks (USER_HZ, 100 a second).
    let ticks = keyed(&acct, "cpuacct.stat");
    let ns = |k| get(&ticks, k) * 10_000_000;
    json!({
        "usage": {"total": number(&acct, "cpuacct.usage"), "percpu": percpu, "kernel": ns("system"), "user": ns("user")},
        "throttling": {"periods": get(&stat, "nr_periods"), "throttled_periods": get(&stat, "nr_throttled"), "throttled_time": get(&stat, "throttled_time")},
    })
}

fn memory(dir: &Path, v2: bool) -> Value {
    let raw = keyed(dir, "memory.stat");
    if v2 {
        let events = keyed(dir, "memory.events");
        return json!({
            "cache": get(&raw, "file"),
            "usage": {"usage": number(dir, "memory.current"), "max": number(dir, "memory.peak"), "limit": limit(dir, "memory.max"), "failcnt": get(&events, "max")},
            "swap_usage": {"usage": number(dir, "memory.swap.current"), "limit": limit(dir, "memory.swap.max")},
            "raw": raw,
        });
    }
    json!({
        "cache": get(&raw, "cache"),
        "usage": {"usage": number(dir, "memory.usage_in_bytes"), "max": number(dir, "memory.max_usage_in_bytes"), "limit": limit(dir, "memory.limit_in_bytes"), "failcnt": number(dir, "memory.failcnt")},
        "swap_usage": {"usage": number(dir, "memory.memsw.usage_in_bytes"), "limit": limit(dir, "memory.memsw.limit_in_bytes")},
        "use_hierarchy": number(dir, "memory.use_hierarchy") == 1,
        "raw": raw,
    })
}

/// How many processes the kernel's OOM killer has killed in the cgroup:
/// v2 counts `oom_kill` in memory.events (not `oom`, which also counts
/// times the limit was hit and reclaim sufficed), v1 in memory.oom_control.
pub fn oom_kills(cg: &Cgroup) -> u64 {
    let Some(d) = cg.with_controller("memory") else {
        return 0;
    };
    let file = if d.is_v2() {
        "memory.events"
    } else {
        "memory.oom_control"
    };
    get(&keyed(&d.host_path(), file), "oom_kill")
}
