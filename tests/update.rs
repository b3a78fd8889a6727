//! `update`: new limits written into a running container's cgroup, from
//! runc's flags or a JSON `linux.resources` object.

mod common;

use common::*;
use std::path::PathBuf;

/// A running `sleep` with a memory and pids limit, in /pkup-<id>.
fn limited(name: &str) -> (Container, String) {
    let mut c = Container::with_args(name, &["sleep", "1000"]);
    let path = format!("/pkup-{}", c.id);
    c.spec
        .linux_extra
        .push(format!("\"cgroupsPath\":\"{path}\""));
    c.spec.device_cgroup_deny_all = false;
    c.spec
        .linux_extra
        .push("\"resources\":{\"memory\":{\"limit\":67108864},\"pids\":{\"limit\":50}}".into());
    c.create_and_start();
    (c, path)
}

/// A cgroup v1 file of the container, as the host sees it.
fn v1(controller: &str, path: &str, file: &str) -> String {
    let p = PathBuf::from("/sys/fs/cgroup")
        .join(controller)
        .join(path.trim_start_matches('/'))
        .join(file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

#[test]
fn update_flags_change_the_limits_in_force() {
    let (c, path) = limited("up_flags");
    assert_eq!(v1("memory", &path, "memory.limit_in_bytes"), "67108864");
    c.rt(&[
        "update",
        "--memory",
        "128m",
        "--pids-limit",
        "77",
        "--cpu-period",
        "100000",
        "--cpu-quota",
        "50000",
        "--cpu-share",
        "512",
        &c.id,
    ])
    .assert_ok();
    assert_eq!(v1("memory", &path, "memory.limit_in_bytes"), "134217728");
    assert_eq!(v1("pids", &path, "pids.max"), "77");
    assert_eq!(v1("cpu", &path, "cpu.cfs_quota_us"), "50000");
    assert_eq!(v1("cpu", &path, "cpu.shares"), "512");
    // The container still runs, and its record keeps what is in force.
    assert_eq!(c.status(), "running");
    let record = std::fs::read_to_string(c.root.join(&c.id).join("state.json")).unwrap();
    assert!(record.contains("134217728"), "{record}");
}

#[test]
fn update_resources_from_stdin_as_containerd_sends_them() {
    let (c, path) = limited("up_stdin");
    let json = br#"{"memory":{"limit":100663296},"pids":{"limit":-1}}"#;
    c.rt_stdin(&["update", "--resources", "-", &c.id], Some(json))
        .assert_ok();
    assert_eq!(v1("memory", &path, "memory.limit_in_bytes"), "100663296");
    assert_eq!(v1("pids", &path, "pids.max"), "max");
}

#[test]
fn check_before_update_refuses_a_limit_below_current_use() {
    let (c, path) = limited("up_check");
    let json = br#"{"memory":{"limit":4096,"checkBeforeUpdate":true}}"#;
    let o = c.rt_stdin(&["update", "-r", "-", &c.id], Some(json));
    assert!(
        !o.ok() && o.stderr.contains("checkBeforeUpdate") && o.stderr.contains("memory.limit"),
        "{}",
        o.describe()
    );
    assert_eq!(v1("memory", &path, "memory.limit_in_bytes"), "67108864");
    assert_eq!(c.status(), "running");
}

#[test]
fn bad_update_input_fails_clearly_and_changes_nothing() {
    let (c, path) = limited("up_bad");
    let o = c.rt(&["update", "--memory", "lots", &c.id]);
    assert!(
        !o.ok() && o.stderr.contains("--memory lots"),
        "{}",
        o.describe()
    );
    let o = c.rt_stdin(
        &["update", "-r", "-", &c.id],
        Some(br#"{"memory":{"limit":-7}}"#),
    );
    assert!(
        !o.ok() && o.stderr.contains("linux.resources.memory.limit") && o.stderr.contains("-7"),
        "{}",
        o.describe()
    );
    let o = c.rt_stdin(&["update", "-r", "-", &c.id], Some(b"{not json"));
    assert!(
        !o.ok() && o.stderr.contains("--resources -"),
        "{}",
        o.describe()
    );
    assert_eq!(v1("memory", &path, "memory.limit_in_bytes"), "67108864");
    let o = c.rt(&["update", "--memory", "1g", "no-such-container-up"]);
    assert!(
        !o.ok() && o.stderr.contains("no-such-container-up"),
        "{}",
        o.describe()
    );
}

#[test]
fn update_of_a_stopped_container_is_refused() {
    let c = Container::with_args("up_stopped", &["true"]);
    c.create_and_start();
    c.wait_status("stopped", SHORT);
    let o = c.rt(&["update", "--memory", "64m", &c.id]);
    assert!(
        !o.ok() && o.stderr.contains("up_stopped") && o.stderr.contains("stopped"),
        "{}",
        o.describe()
    );
}
