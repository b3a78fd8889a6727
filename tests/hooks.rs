//! OCI hooks.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const ORDER: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Script logging the state (stdin) to NAME.json and NAME to `log`, in the
/// host dir when visible, else in /hooklog (the same dir bind-mounted into
/// the container).
fn logging_script(host_log: &str, name: &str) -> String {
    format!(
        "L={host_log}; [ -d \"$L\" ] || L=/hooklog; cat > \"$L/{name}.json\"; \
         cat /proc/sys/kernel/hostname > \"$L/{name}.host\"; echo {name} >> \"$L/log\""
    )
}

#[test]
fn all_hooks_fire_in_order_with_state() {
    let mut c = Container::with_args(
        "hk_order",
        &["sh", "-c", "echo user-process-ran; sleep 0.3"],
    );
    let log = host_dir(&c, "hooklog");
    let log_s = log.to_string_lossy().to_string();
    c.spec
        .mounts
        .push(mount_json("/hooklog", "bind", &log_s, &["rbind", "rw"]));
    for name in ORDER {
        c.spec.hooks.push((
            name.to_string(),
            sh_hook(&logging_script(&log_s, name), None),
        ));
    }
    let host_hostname = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();

    c.create().assert_ok();
    let created_log = fs::read_to_string(log.join("log")).unwrap_or_default();
    assert_eq!(
        created_log.lines().collect::<Vec<_>>(),
        vec!["prestart", "createRuntime", "createContainer"],
        "hooks after create"
    );
    let pid = c.pid();
    c.start().assert_ok();
    let started_log = fs::read_to_string(log.join("log")).unwrap_or_default();
    assert_eq!(
        started_log.lines().collect::<Vec<_>>(),
        vec![
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart"
        ],
        "hooks after start (poststart must have run before start returned)"
    );
    c.wait_status("stopped", SHORT);
    assert_eq!(c.container_stdout().trim(), "user-process-ran");
    c.delete(false).assert_ok();
    let full = fs::read_to_string(log.join("log")).unwrap_or_default();
    assert_eq!(
        full.lines().collect::<Vec<_>>(),
        ORDER.to_vec(),
        "hook order"
    );

    for name in ORDER {
        let st = fs::read_to_string(log.join(format!("{name}.json"))).unwrap_or_default();
        assert_eq!(
            json_field(&st, "id").as_deref(),
            Some(c.id.as_str()),
            "{name} state stdin: {st:?}"
        );
        let got = json_field(&st, "pid").and_then(|p| p.parse::<i32>().ok());
        match name {
            "poststop" => {}
            // Hooks run inside the container's pid namespace may see pid 1.
            "createContainer" | "startContainer" => assert!(
                got == Some(pid) || got == Some(1),
                "{name} state lacks the container pid ({pid} or 1): {st:?}"
            ),
            _ => assert_eq!(
                got,
                Some(pid),
                "{name} state lacks the container pid: {st:?}"
            ),
        }
        let b = json_field(&st, "bundle").unwrap_or_default();
        assert_eq!(
            fs::canonicalize(&b).ok(),
            fs::canonicalize(&c.bundle).ok(),
            "{name} bundle: {st:?}"
        );
    }
    // Runtime-namespace hooks see the host, container-namespace hooks the container.
    let host_of = |n: &str| fs::read_to_string(log.join(format!("{n}.host"))).unwrap_or_default();
    for n in ["prestart", "createRuntime", "poststart", "poststop"] {
        assert_eq!(
            host_of(n),
            host_hostname,
            "{n} did not run in the host uts namespace"
        );
    }
    for n in ["createContainer", "startContainer"] {
        assert_eq!(
            host_of(n).trim(),
            "puncker",
            "{n} did not run in the container uts namespace"
        );
    }
}

#[test]
fn start_container_hook_path_resolves_in_container() {
    let mut c = Container::with_args("hk_incontainer", &["true"]);
    let log = host_dir(&c, "hooklog");
    let log_s = log.to_string_lossy().to_string();
    c.spec
        .mounts
        .push(mount_json("/hooklog", "bind", &log_s, &["rbind", "rw"]));
    // This path exists only inside the rootfs.
    let name = format!("only-in-container-{}.sh", c.id);
    let script = c.rootfs.join(&name);
    fs::write(&script, "#!/bin/sh\necho \"ran $1\" > /hooklog/start.out\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(!std::path::Path::new(&format!("/{name}")).exists());
    c.spec.hooks.push((
        "startContainer".into(),
        format!(
            "{{\"path\":{},\"args\":[\"x\",\"arg1\"]}}",
            js(&format!("/{name}"))
        ),
    ));
    c.create_and_start();
    c.wait_status("stopped", SHORT);
    assert_eq!(
        fs::read_to_string(log.join("start.out")).unwrap_or_default(),
        "ran arg1\n"
    );
}

#[test]
fn failing_create_runtime_hook_fails_create() {
    let mut c = Container::new("hk_fail");
    c.spec.hooks.push((
        "createRuntime".into(),
        sh_hook("echo hook-failing >&2; exit 3", None),
    ));
    let o = c.create();
    o.assert_fail();
    assert!(
        c.root_entries().is_empty(),
        "state left under --root: {:?}",
        c.root_entries()
    );
    c.state().assert_fail();
    c.assert_no_traces();
}

#[test]
fn failing_prestart_hook_fails_create() {
    let mut c = Container::new("hk_fail_pre");
    c.spec
        .hooks
        .push(("prestart".into(), sh_hook("exit 1", None)));
    c.create().assert_fail();
    assert!(
        c.root_entries().is_empty(),
        "state left under --root: {:?}",
        c.root_entries()
    );
    c.assert_no_traces();
}

#[test]
fn hook_timeout_is_enforced() {
    let mut c = Container::new("hk_timeout");
    let done = c.dir.join("hook-finished");
    // The sleeper does not hold the hook's stdio, so only the hook shell matters.
    let script = format!(
        "sleep 6 </dev/null >/dev/null 2>&1; touch {}; : {}",
        done.display(),
        c.marker
    );
    c.spec
        .hooks
        .push(("createRuntime".into(), sh_hook(&script, Some(1))));
    let o = c.create();
    o.assert_fail();
    assert!(
        o.elapsed < Duration::from_secs(5),
        "create took {:?}; timeout ignored",
        o.elapsed
    );
    assert!(
        c.root_entries().is_empty(),
        "state left under --root: {:?}",
        c.root_entries()
    );
    // The hook itself must have been killed.
    std::thread::sleep(Duration::from_millis(200));
    let procs = processes_matching(&[&c.marker], &[]);
    assert!(
        procs.is_empty(),
        "hook still running after timeout: {procs:?}"
    );
    std::thread::sleep(Duration::from_secs(6));
    assert!(!done.exists(), "hook ran to completion despite its timeout");
}

#[test]
fn poststop_runs_on_forced_delete() {
    let mut c = Container::new("hk_poststop");
    let flag = c.dir.join("poststop-ran");
    c.spec.hooks.push((
        "poststop".into(),
        sh_hook(&format!("cat > {}", flag.display()), None),
    ));
    c.create_and_start();
    assert!(!flag.exists());
    c.delete(true).assert_ok();
    let st = fs::read_to_string(&flag).expect("poststop did not run");
    assert_eq!(json_field(&st, "id").as_deref(), Some(c.id.as_str()));
}

#[test]
fn poststart_state_has_pid_of_short_lived_process() {
    // The user process may exit before poststart runs; the state given to
    // poststart must still name the container's pid.
    let mut bad = vec![];
    for round in 0..5 {
        let mut c = Container::with_args(&format!("hk_poststart_pid{round}"), &["true"]);
        let f = c.dir.join("poststart.json");
        c.spec.hooks.push((
            "poststart".into(),
            sh_hook(&format!("cat > {}", f.display()), None),
        ));
        c.create().assert_ok();
        let pid = c.pid();
        c.start().assert_ok();
        let st = std::fs::read_to_string(&f).unwrap_or_default();
        let got = json_field(&st, "pid").and_then(|p| p.parse::<i32>().ok());
        if got != Some(pid) || json_field(&st, "id").as_deref() != Some(c.id.as_str()) {
            bad.push(format!("round {round}: pid {pid}, poststart got {st:?}"));
        }
    }
    assert!(
        bad.is_empty(),
        "poststart state wrong:\n  {}",
        bad.join("\n  ")
    );
}
