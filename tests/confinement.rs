//! The rest of confinement in real containers: namespaced sysctls only,
//! personality, scheduler, I/O priority, exec CPU affinity, and bad values
//! (capability names included) failing create with the field named.

mod common;

use common::*;

fn sh(name: &str, script: &str) -> Container {
    Container::with_args(name, &["sh", "-c", script])
}

/// create fails, the error names `needle`, nothing is left behind.
#[track_caller]
fn create_fails_naming(c: &Container, needle: &str) {
    let out = c.create();
    out.assert_fail();
    out.assert_stderr_contains(needle);
    assert!(c.root_entries().is_empty(), "left: {:?}", c.root_entries());
    c.assert_no_traces();
}

#[test]
fn namespaced_sysctls_are_written_in_the_container() {
    let host_forward = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let host_shmmni = std::fs::read_to_string("/proc/sys/kernel/shmmni").unwrap();
    let mut c = sh(
        "sysctl-ok",
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni /proc/sys/kernel/domainname /proc/sys/fs/mqueue/queues_max",
    );
    c.spec.linux_extra.push(
        r#""sysctl":{"net.ipv4.ip_forward":"1","kernel.shmmni":"1234","kernel.domainname":"example.test","fs/mqueue/queues_max":"77"}"#
            .into(),
    );
    let out = c.run_fg();
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        ["1", "1234", "example.test", "77"],
        "{}",
        out.describe()
    );
    // The host's copies are untouched.
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_forward
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/shmmni").unwrap(),
        host_shmmni
    );
}

#[test]
fn a_global_sysctl_is_refused() {
    let mut c = sh("sysctl-global", "true");
    c.spec
        .linux_extra
        .push(r#""sysctl":{"vm.swappiness":"10"}"#.into());
    create_fails_naming(&c, "vm.swappiness");
}

#[test]
fn a_sysctl_of_a_shared_namespace_is_refused() {
    let mut c = sh("sysctl-shared", "true");
    c.spec.namespaces.retain(|n| !n.contains("\"network\""));
    c.spec
        .linux_extra
        .push(r#""sysctl":{"net.ipv4.ip_forward":"1"}"#.into());
    create_fails_naming(&c, "net.ipv4.ip_forward");
    let mut c = sh("sysctl-shared-ipc", "true");
    c.spec.namespaces.retain(|n| !n.contains("\"ipc\""));
    c.spec
        .linux_extra
        .push(r#""sysctl":{"kernel.shmmax":"1000000"}"#.into());
    create_fails_naming(&c, "kernel.shmmax");
}

#[test]
fn joining_the_hosts_network_namespace_does_not_own_it() {
    let mut c = sh("sysctl-hostnet", "true");
    c.spec.namespaces.retain(|n| !n.contains("\"network\""));
    c.spec.namespaces.push(ns_json(
        "network",
        Some(&format!("/proc/{}/ns/net", std::process::id())),
    ));
    c.spec
        .linux_extra
        .push(r#""sysctl":{"net.ipv4.ip_forward":"1"}"#.into());
    create_fails_naming(&c, "net.ipv4.ip_forward");
}

#[test]
fn a_sysctl_key_cannot_climb_out_of_proc_sys() {
    let mut c = sh("sysctl-dotdot", "true");
    c.spec
        .linux_extra
        .push(r#""sysctl":{"net/../../../etc/passwd":"x"}"#.into());
    create_fails_naming(&c, "linux.sysctl");
}

#[test]
fn linux32_personality_shows_a_32_bit_machine() {
    let mut c = sh("pers32", "uname -m");
    c.spec
        .linux_extra
        .push(r#""personality":{"domain":"LINUX32"}"#.into());
    let out = c.run_fg();
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "i686", "{}", out.describe());
    // A process exec'd into the container gets the same personality.
    let mut c = Container::new("pers32-exec");
    c.spec
        .linux_extra
        .push(r#""personality":{"domain":"LINUX32"}"#.into());
    c.create_and_start();
    let out = c.rt(&["exec", &c.id, "uname", "-m"]);
    assert_eq!(out.stdout.trim(), "i686", "{}", out.describe());
    let mut c = sh("pers64", "uname -m");
    c.spec
        .linux_extra
        .push(r#""personality":{"domain":"LINUX"}"#.into());
    let out = c.run_fg();
    out.assert_ok();
    assert_eq!(
        out.stdout.trim(),
        std::env::consts::ARCH,
        "{}",
        out.describe()
    );
}

#[test]
fn personality_flags_are_refused() {
    let mut c = sh("pers-flags", "true");
    c.spec
        .linux_extra
        .push(r#""personality":{"domain":"LINUX","flags":["ADDR_NO_RANDOMIZE"]}"#.into());
    create_fails_naming(&c, "linux.personality.flags");
}

#[test]
fn io_priority_is_set() {
    let mut c = sh("ioprio", "ionice -p $$");
    c.spec
        .process_extra
        .push(r#""ioPriority":{"class":"IOPRIO_CLASS_BE","priority":6}"#.into());
    let out = c.run_fg();
    out.assert_ok();
    assert!(
        out.stdout.contains("best-effort") && out.stdout.contains('6'),
        "{}",
        out.describe()
    );
    let mut c = sh("ioprio-idle", "ionice -p $$");
    c.spec
        .process_extra
        .push(r#""ioPriority":{"class":"IOPRIO_CLASS_IDLE","priority":0}"#.into());
    let out = c.run_fg();
    out.assert_ok();
    assert!(out.stdout.contains("idle"), "{}", out.describe());
}

/// Fields 19 (nice) and 41 (policy) of /proc/self/stat.
fn nice_and_policy(stat: &str) -> (String, String) {
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state).
    (f[19 - 3].to_string(), f[41 - 3].to_string())
}

/// `cat /proc/self/stat` as the container's process, under `scheduler`.
fn stat_under(name: &str, scheduler: &str) -> Out {
    let mut c = Container::with_args(name, &["cat", "/proc/self/stat"]);
    c.spec
        .process_extra
        .push(format!("\"scheduler\":{scheduler}"));
    c.run_fg()
}

#[test]
fn scheduler_policy_and_nice_are_set() {
    // The flag under the spec's name (oci-spec spells it differently).
    let out = stat_under(
        "sched-batch",
        r#"{"policy":"SCHED_BATCH","nice":7,"flags":["SCHED_FLAG_RESET_ON_FORK"]}"#,
    );
    out.assert_ok();
    assert_eq!(
        nice_and_policy(&out.stdout),
        ("7".into(), "3".into()),
        "{}",
        out.describe()
    );
    let out = stat_under("sched-idle", r#"{"policy":"SCHED_IDLE"}"#);
    out.assert_ok();
    assert_eq!(nice_and_policy(&out.stdout).1, "5", "{}", out.describe());
}

#[test]
fn realtime_scheduler_is_set() {
    let out = stat_under("sched-fifo", r#"{"policy":"SCHED_FIFO","priority":10}"#);
    if !out.ok() && out.stderr.contains("sched_setattr") && out.stderr.contains("EPERM") {
        eprintln!("skipped: real-time scheduling refused here: {}", out.stderr);
        return;
    }
    out.assert_ok();
    let after = out.stdout.rsplit(')').next().unwrap_or("").to_string();
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 40 (rt_priority) and 41 (policy).
    assert_eq!((f[40 - 3], f[41 - 3]), ("10", "1"), "{}", out.describe());
}

#[test]
fn bad_scheduling_values_name_the_field() {
    let mut c = sh("sched-bad", "true");
    c.spec
        .process_extra
        .push(r#""scheduler":{"policy":"SCHED_RR","priority":0}"#.into());
    create_fails_naming(&c, "process.scheduler.priority");
    let mut c = sh("ioprio-bad", "true");
    c.spec
        .process_extra
        .push(r#""ioPriority":{"class":"IOPRIO_CLASS_BE","priority":8}"#.into());
    create_fails_naming(&c, "process.ioPriority.priority");
}

#[test]
fn exec_cpu_affinity_applies_to_exec_not_init() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        eprintln!("skipped: needs two CPUs");
        return;
    }
    let mut c = Container::new("affinity");
    c.spec
        .process_extra
        .push(r#""execCPUAffinity":{"initial":"0","final":"1"}"#.into());
    let pid = c.create_and_start();
    let init = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        !init.contains("Cpus_allowed_list:\t1\n"),
        "the init was pinned: {init}"
    );
    let out = c.rt(&[
        "exec",
        &c.id,
        "grep",
        "Cpus_allowed_list",
        "/proc/self/status",
    ]);
    out.assert_ok();
    assert!(
        out.stdout.contains("Cpus_allowed_list:\t1"),
        "{}",
        out.describe()
    );
}

#[test]
fn a_capability_name_that_does_not_exist_is_named() {
    let c = sh("cap-bad", "true");
    let mut c = c;
    let json = c.spec.to_json().replacen(
        "\"bounding\":[\"CAP_AUDIT_WRITE\",",
        "\"bounding\":[\"CAP_AUDIT_WRITE\",\"CAP_FLY\",",
        1,
    );
    assert!(json.contains("CAP_FLY"));
    c.raw_config = Some(json);
    create_fails_naming(&c, "process.capabilities.bounding[1]");
}

/// An LSM label the host cannot apply is refused, naming the field, with
/// nothing left behind (this machine runs neither AppArmor nor SELinux; on
/// a host that does, the label is written to /proc/self/attr before execve).
#[test]
fn lsm_labels_without_that_lsm_are_refused() {
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim() == "Y");
    let selinux = std::path::Path::new("/sys/fs/selinux/enforce").exists();
    if !apparmor {
        let mut c = Container::with_args("lsm_aa", &["true"]);
        c.spec
            .process_extra
            .push("\"apparmorProfile\":\"docker-default\"".into());
        let o = c.create();
        o.assert_fail();
        o.assert_stderr_contains("process.apparmorProfile");
        o.assert_stderr_contains("AppArmor is not enabled");
        assert!(
            c.root_entries().is_empty(),
            "left behind: {:?}",
            c.root_entries()
        );
        c.assert_no_traces();
    }
    if !selinux {
        let mut c = Container::with_args("lsm_se", &["true"]);
        c.spec
            .process_extra
            .push("\"selinuxLabel\":\"system_u:system_r:container_t:s0\"".into());
        let o = c.create();
        o.assert_fail();
        o.assert_stderr_contains("process.selinuxLabel");
        assert!(c.root_entries().is_empty());
        c.assert_no_traces();
    }
    if !apparmor {
        let c = Container::with_args("lsm_exec", &["sleep", "100"]);
        c.create_and_start();
        let o = c.rt(&["exec", "--apparmor", "docker-default", &c.id, "true"]);
        o.assert_fail();
        o.assert_stderr_contains("AppArmor is not enabled");
        assert_eq!(c.status(), "running");
    }
}
