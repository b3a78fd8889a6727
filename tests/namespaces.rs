//! Namespace setup.

mod common;

use common::*;
use std::fs;
use std::time::Duration;

#[test]
fn all_namespaces_differ_from_host() {
    let c = Container::new("ns_differ");
    c.create().assert_ok();
    let pid = c.pid().to_string();
    let mut same = vec![];
    for ns in ["pid", "mnt", "net", "ipc", "uts", "cgroup"] {
        let inner = ns_link(&pid, ns);
        let host = ns_link("self", ns);
        assert!(!inner.starts_with('<'), "{inner}");
        if inner == host {
            same.push(format!("{ns} ({inner})"));
        }
    }
    assert!(same.is_empty(), "namespaces shared with the host: {same:?}");
    // Namespaces not requested stay shared with the host.
    assert_eq!(
        ns_link(&pid, "user"),
        ns_link("self", "user"),
        "user ns not requested but unshared"
    );
}

#[test]
fn without_namespace_entry_it_is_shared() {
    let mut c = Container::new("ns_shared_ipc");
    c.spec.namespaces.retain(|n| !n.contains("\"ipc\""));
    c.create().assert_ok();
    let pid = c.pid().to_string();
    assert_eq!(ns_link(&pid, "ipc"), ns_link("self", "ipc"));
    assert_ne!(ns_link(&pid, "uts"), ns_link("self", "uts"));
}

#[test]
fn process_is_pid_1() {
    let c = Container::with_args(
        "ns_pid1",
        &[
            "sh",
            "-c",
            "echo $$; cut -d' ' -f1 /proc/self/stat; ls /proc | grep -c '^[0-9]'",
        ],
    );
    let o = c.run_fg();
    o.assert_ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"1"), "{}", o.describe());
    // cut runs as a child of pid 1 in the new pid namespace: small pid.
    let child: i32 = lines.get(1).and_then(|s| s.parse().ok()).unwrap_or(-1);
    assert!(
        (2..100).contains(&child),
        "child pid {child} not in a fresh pid ns: {}",
        o.stdout
    );
    // Only the container's processes are visible in its /proc.
    let nprocs: i32 = lines.get(2).and_then(|s| s.parse().ok()).unwrap_or(-1);
    assert!(
        (1..10).contains(&nprocs),
        "container /proc shows {nprocs} processes"
    );
}

#[test]
fn hostname_and_domainname() {
    let mut c = Container::with_args(
        "ns_hostname",
        &[
            "sh",
            "-c",
            "hostname; cat /proc/sys/kernel/hostname; cat /proc/sys/kernel/domainname",
        ],
    );
    c.spec.hostname = Some("box-one".into());
    c.spec
        .top_extra
        .push("\"domainname\":\"example.test\"".into());
    let host_hostname = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let o = c.run_fg();
    o.assert_ok();
    assert_eq!(
        o.stdout,
        "box-one\nbox-one\nexample.test\n",
        "{}",
        o.describe()
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_hostname,
        "host hostname changed"
    );
}

#[test]
fn network_namespace_has_only_loopback() {
    let c = Container::with_args(
        "ns_net",
        &[
            "sh",
            "-c",
            "ls /sys/class/net; cat /proc/net/dev | tail -n +3 | cut -d: -f1",
        ],
    );
    let o = c.run_fg();
    o.assert_ok();
    let ifaces: Vec<&str> = o.stdout.split_whitespace().collect();
    assert!(
        ifaces.iter().all(|i| *i == "lo"),
        "unexpected interfaces: {ifaces:?}"
    );
    assert!(ifaces.contains(&"lo"));
}

#[test]
fn user_namespace_mappings() {
    let mut c = Container::with_args(
        "ns_user",
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; id -u",
        ],
    );
    c.spec.namespaces.push(ns_json("user", None));
    c.spec
        .linux_extra
        .push("\"uidMappings\":[{\"containerID\":0,\"hostID\":100000,\"size\":65536}]".into());
    c.spec
        .linux_extra
        .push("\"gidMappings\":[{\"containerID\":0,\"hostID\":100000,\"size\":65536}]".into());
    let o = c.run_fg();
    o.assert_ok();
    let rows: Vec<Vec<&str>> = o
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(rows.len() >= 3, "{}", o.describe());
    assert_eq!(
        rows[0],
        vec!["0", "100000", "65536"],
        "uid_map: {}",
        o.stdout
    );
    assert_eq!(
        rows[1],
        vec!["0", "100000", "65536"],
        "gid_map: {}",
        o.stdout
    );
    assert_eq!(rows[2], vec!["0"], "{}", o.stdout);
}

#[test]
fn user_namespace_host_view() {
    let mut c = Container::new("ns_user_host");
    c.spec.namespaces.push(ns_json("user", None));
    c.spec
        .linux_extra
        .push("\"uidMappings\":[{\"containerID\":0,\"hostID\":100000,\"size\":65536}]".into());
    c.spec
        .linux_extra
        .push("\"gidMappings\":[{\"containerID\":0,\"hostID\":100000,\"size\":65536}]".into());
    let pid = c.create_and_start();
    assert_ne!(ns_link(&pid.to_string(), "user"), ns_link("self", "user"));
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid.split_whitespace().skip(1).all(|u| u == "100000"),
        "container root should be host uid 100000: {uid}"
    );
}

fn uptime_secs(s: &str) -> f64 {
    s.split_whitespace()
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or(-1.0)
}

#[test]
fn time_namespace_offsets() {
    if !std::path::Path::new("/proc/self/ns/time").exists() {
        eprintln!("kernel has no time namespaces; nothing to check");
        return;
    }
    const OFF: f64 = 10.0 * 86400.0;
    let mut c = Container::with_args("ns_time", &["cat", "/proc/uptime"]);
    c.spec.namespaces.push(ns_json("time", None));
    c.spec.linux_extra.push(format!(
        "\"timeOffsets\":{{\"boottime\":{{\"secs\":{},\"nanosecs\":0}},\"monotonic\":{{\"secs\":{},\"nanosecs\":0}}}}",
        OFF as u64, OFF as u64
    ));
    let before = uptime_secs(&fs::read_to_string("/proc/uptime").unwrap());
    let o = c.run_fg();
    let after = uptime_secs(&fs::read_to_string("/proc/uptime").unwrap());
    o.assert_ok();
    let inside = uptime_secs(&o.stdout);
    assert!(
        inside >= before + OFF - 1.0 && inside <= after + OFF + 1.0,
        "uptime inside {inside} not host uptime ({before}..{after}) + {OFF}"
    );
}

#[test]
fn join_namespaces_by_path() {
    let mut a = Container::new("ns_join_a");
    a.spec.hostname = Some("alpha-host".into());
    let apid = a.create_and_start().to_string();

    let mut b = Container::with_args("ns_join_b", &["sh", "-c", "hostname; exec sleep 1000"]);
    b.spec.hostname = None;
    b.spec.namespaces = ["pid", "ipc", "mount", "cgroup"]
        .iter()
        .map(|t| ns_json(t, None))
        .collect();
    b.spec
        .namespaces
        .push(ns_json("uts", Some(&format!("/proc/{apid}/ns/uts"))));
    b.spec
        .namespaces
        .push(ns_json("network", Some(&format!("/proc/{apid}/ns/net"))));
    let bpid = b.create_and_start().to_string();

    assert_eq!(
        ns_link(&bpid, "uts"),
        ns_link(&apid, "uts"),
        "uts not joined"
    );
    assert_eq!(
        ns_link(&bpid, "net"),
        ns_link(&apid, "net"),
        "net not joined"
    );
    assert_ne!(
        ns_link(&bpid, "pid"),
        ns_link(&apid, "pid"),
        "pid ns must be fresh"
    );
    assert_ne!(
        ns_link(&bpid, "mnt"),
        ns_link(&apid, "mnt"),
        "mnt ns must be fresh"
    );
    assert_ne!(ns_link(&bpid, "uts"), ns_link("self", "uts"));
    let out = b.wait_stdout("\n", SHORT);
    assert_eq!(out.trim(), "alpha-host");
    // Deleting B must not disturb A.
    b.delete(true).assert_ok();
    assert_eq!(a.status(), "running");
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        std::path::Path::new(&format!("/proc/{apid}/ns/uts")).exists(),
        "A died with B"
    );
}

#[test]
fn cgroup_namespace_root() {
    let c = Container::with_args("ns_cgroup", &["cat", "/proc/self/cgroup"]);
    let o = c.run_fg();
    o.assert_ok();
    // Inside a fresh cgroup namespace every hierarchy path is "/".
    for l in o.stdout.lines() {
        let path = l.splitn(3, ':').nth(2).unwrap_or("");
        assert_eq!(path, "/", "cgroup path not namespaced: {l}\n{}", o.stdout);
    }
    assert!(!o.stdout.is_empty());
}

#[test]
fn join_user_namespace_by_path() {
    let mut a = Container::with_args("ns_juser_a", &["sleep", "1000"]);
    a.spec.namespaces.push(ns_json("user", None));
    a.spec
        .linux_extra
        .push("\"uidMappings\":[{\"containerID\":0,\"hostID\":100000,\"size\":65536}]".into());
    a.spec
        .linux_extra
        .push("\"gidMappings\":[{\"containerID\":0,\"hostID\":100000,\"size\":65536}]".into());
    let apid = a.create_and_start().to_string();

    let mut b = Container::with_args(
        "ns_juser_b",
        &["sh", "-c", "cat /proc/self/uid_map; id -u; exec sleep 1000"],
    );
    b.spec
        .namespaces
        .push(ns_json("user", Some(&format!("/proc/{apid}/ns/user"))));
    let bpid = b.create_and_start().to_string();

    assert_eq!(
        ns_link(&bpid, "user"),
        ns_link(&apid, "user"),
        "user namespace not joined"
    );
    // B's other namespaces are its own, and belong to the joined user namespace.
    assert_ne!(ns_link(&bpid, "mnt"), ns_link(&apid, "mnt"));
    assert_ne!(ns_link(&bpid, "pid"), ns_link(&apid, "pid"));
    let out = b.wait_stdout("\n0\n", SHORT);
    let first: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(first, vec!["0", "100000", "65536"], "uid_map: {out}");
    b.delete(true).assert_ok();
    assert_eq!(a.status(), "running", "A must survive B");
}
