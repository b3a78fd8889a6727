//! Container lifecycle through the runc-compatible CLI.

mod common;

use common::*;
use std::fs;
use std::time::Duration;

#[test]
fn create_start_stop_delete() {
    let c = Container::with_args("lc_basic", &["sh", "-c", "sleep 0.5; echo done"]);
    c.create().assert_ok();

    let st = c.state_json();
    assert!(
        json_field(&st, "ociVersion").is_some_and(|v| v.starts_with("1.")),
        "state: {st}"
    );
    assert_eq!(
        json_field(&st, "status").as_deref(),
        Some("created"),
        "state: {st}"
    );
    assert_eq!(
        json_field(&st, "id").as_deref(),
        Some(c.id.as_str()),
        "state: {st}"
    );
    let pid: i32 = json_field(&st, "pid")
        .and_then(|p| p.parse().ok())
        .expect("pid in state");
    assert!(pid > 0, "pid must be > 0, state: {st}");
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} not alive"
    );
    let bundle = json_field(&st, "bundle").expect("bundle in state");
    assert_eq!(
        fs::canonicalize(&bundle).ok(),
        fs::canonicalize(&c.bundle).ok(),
        "state bundle {bundle:?} != {:?}",
        c.bundle
    );
    // Nothing has run yet.
    assert_eq!(c.container_stdout(), "", "process ran before start");

    c.start().assert_ok();
    let st = c.state_json();
    let s = json_field(&st, "status").unwrap();
    assert!(s == "running" || s == "stopped", "after start: {st}");
    c.wait_status("stopped", SHORT);
    assert_eq!(c.container_stdout().trim(), "done");

    c.delete(false).assert_ok();
    c.state().assert_fail();
    assert!(
        c.root_entries_for_id().is_empty(),
        "root still has {:?}",
        c.root_entries_for_id()
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || {
            // pid may have been recycled; make sure it is not our container
            c.leaked_processes().is_empty()
        }
    );
}

#[test]
fn state_is_running_while_process_lives() {
    let c = Container::new("lc_running");
    let pid = c.create_and_start();
    assert_eq!(c.status(), "running");
    assert_eq!(c.pid(), pid);
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&cmdline),
        "sleep\x001000\x00",
        "init is not the user process"
    );
    c.kill(Some("KILL")).assert_ok();
    c.wait_status("stopped", SHORT);
    c.delete(false).assert_ok();
    c.assert_no_traces();
}

#[test]
fn run_returns_exit_status() {
    let c = Container::with_args("lc_exit7", &["sh", "-c", "echo out; echo err >&2; exit 7"]);
    let o = c.run_fg();
    assert_eq!(o.code(), Some(7), "{}", o.describe());
    assert_eq!(o.stdout.trim(), "out");
    assert!(o.stderr.contains("err"), "{}", o.describe());
    c.delete(false);
    c.assert_no_traces();
}

#[test]
fn run_returns_zero_on_success() {
    let c = Container::with_args("lc_exit0", &["true"]);
    let o = c.run_fg();
    assert_eq!(o.code(), Some(0), "{}", o.describe());
}

#[test]
fn run_killed_by_sigkill_returns_137() {
    let c = Container::new("lc_137");
    c.write_config_now();
    let b = c.bundle_str();
    let (mut cmd, out, err) = c.command(&["run", "--bundle", &b, &c.id]);
    let mut child = cmd.spawn().unwrap();
    c.wait_status("running", SHORT);
    c.kill(Some("KILL")).assert_ok();
    let st = wait_deadline(&mut child, "run", Duration::from_secs(20));
    use std::os::unix::process::ExitStatusExt;
    let code = st.code().or(st.signal().map(|s| 128 + s));
    assert_eq!(
        code,
        Some(137),
        "stdout {:?} stderr {:?}",
        fs::read_to_string(out),
        fs::read_to_string(err)
    );
}

#[test]
fn run_detach() {
    let c = Container::new("lc_detach");
    let b = c.bundle_str();
    c.write_config_now();
    let o = c.rt(&["run", "--detach", "--bundle", &b, &c.id]);
    o.assert_ok();
    assert!(
        o.elapsed < Duration::from_secs(15),
        "run --detach did not return promptly"
    );
    assert_eq!(c.status(), "running");
    let pid = c.pid();
    assert!(fs::metadata(format!("/proc/{pid}")).is_ok());
    c.delete(true).assert_ok();
    c.assert_no_traces();
}

#[test]
fn pid_file_matches_state() {
    let c = Container::new("lc_pidfile");
    let pf = c.dir.join("pidfile");
    let pfs = pf.to_string_lossy().to_string();
    c.create_with(&["--pid-file", &pfs]).assert_ok();
    let content = fs::read_to_string(&pf).expect("pid file written");
    let pid_in_file: i32 = content
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("bad pid file {content:?}"));
    assert_eq!(pid_in_file, c.pid());
    assert!(pid_in_file > 0);
}

#[test]
fn kill_default_is_sigterm() {
    let c = Container::with_args(
        "lc_term",
        &[
            "sh",
            "-c",
            "trap 'echo got-TERM; exit 42' TERM; echo ready; while true; do sleep 0.05; done",
        ],
    );
    c.create_and_start();
    c.wait_stdout("ready", SHORT);
    c.kill(None).assert_ok();
    c.wait_status("stopped", SHORT);
    let out = c.container_stdout();
    assert!(
        out.contains("got-TERM"),
        "default signal was not SIGTERM; stdout {out:?}"
    );
}

#[test]
fn kill_by_name_and_number() {
    for sig in ["KILL", "9", "SIGKILL"] {
        let c = Container::new(&format!("lc_kill_{sig}"));
        c.create_and_start();
        c.kill(Some(sig)).assert_ok();
        c.wait_status("stopped", SHORT);
        c.delete(false).assert_ok();
        c.assert_no_traces();
    }
}

#[test]
fn kill_by_signal_name_hup() {
    let c = Container::with_args(
        "lc_term15",
        &["sh", "-c", "trap 'echo got-TERM; exit 0' TERM; trap 'echo got-HUP; exit 0' HUP; echo ready; while true; do sleep 0.05; done"],
    );
    c.create_and_start();
    c.wait_stdout("ready", SHORT);
    c.kill(Some("HUP")).assert_ok();
    c.wait_status("stopped", SHORT);
    let out = c.container_stdout();
    assert!(
        out.contains("got-HUP") && !out.contains("got-TERM"),
        "stdout {out:?}"
    );
}

#[test]
fn list_shows_container() {
    let c = Container::new("lc_list");
    c.create().assert_ok();
    let o = c.rt(&["list"]);
    o.assert_ok();
    let line = o
        .stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(c.id.as_str()));
    let line = line.unwrap_or_else(|| panic!("list does not show {}: {}", c.id, o.stdout));
    assert!(line.contains("created"), "list line lacks status: {line}");
    let pid = c.pid().to_string();
    assert!(
        line.split_whitespace().any(|w| w == pid),
        "list line lacks pid {pid}: {line}"
    );

    let o = c.rt(&["list", "--format", "json"]);
    o.assert_ok();
    let j = o.stdout.trim();
    assert!(j.starts_with('['), "not a JSON array: {j}");
    assert!(j.contains(&js(&c.id)), "json list lacks id: {j}");
    assert_eq!(json_field(j, "id").as_deref(), Some(c.id.as_str()));
    assert_eq!(json_field(j, "status").as_deref(), Some("created"));

    let q = c.rt(&["list", "-q"]);
    q.assert_ok();
    assert_eq!(q.stdout.trim(), c.id);
}

#[test]
fn list_empty_root() {
    let c = Container::new("lc_list_empty");
    let o = c.rt(&["list", "--format", "json"]);
    o.assert_ok();
    assert!(!o.stdout.contains(&c.id));
    let t = o.stdout.trim();
    assert!(
        t == "null" || t == "[]",
        "unexpected empty list output {t:?}"
    );
}

#[test]
fn delete_created_container() {
    let c = Container::new("lc_del_created");
    c.create().assert_ok();
    let pid = c.pid();
    c.delete(false).assert_ok();
    c.state().assert_fail();
    assert!(
        wait_until(SHORT, || !std::path::Path::new(&format!("/proc/{pid}"))
            .exists()
            || fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(") Z"))
                .unwrap_or(true)),
        "init {pid} of deleted created container still alive"
    );
    c.assert_no_traces();
}

#[test]
fn delete_running_requires_force() {
    let c = Container::new("lc_del_running");
    let pid = c.create_and_start();
    let o = c.delete(false);
    o.assert_fail();
    assert_eq!(c.status(), "running", "failed delete changed the state");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    c.delete(true).assert_ok();
    c.state().assert_fail();
    c.assert_no_traces();
}

#[test]
fn start_running_fails() {
    let c = Container::new("lc_start_twice");
    c.create_and_start();
    let o = c.start();
    o.assert_fail();
    assert_eq!(c.status(), "running");
}

#[test]
fn start_stopped_fails() {
    let c = Container::with_args("lc_start_stopped", &["true"]);
    c.create_and_start();
    c.wait_status("stopped", SHORT);
    c.start().assert_fail();
    assert_eq!(c.status(), "stopped");
}

#[test]
fn stdin_pipe_reaches_container() {
    let c = Container::with_args("lc_pipe", &["cat"]);
    let o = c.run_fg_stdin(b"hello\n");
    o.assert_ok();
    assert_eq!(o.stdout, "hello\n");
}

#[test]
fn stdin_null_gives_eof() {
    let c = Container::with_args("lc_stdin_null", &["sh", "-c", "cat; echo eof-$?"]);
    let o = c.run_fg();
    o.assert_ok();
    assert_eq!(o.stdout.trim(), "eof-0");
}

#[test]
fn process_env_cwd_user() {
    let mut c = Container::with_args(
        "lc_env",
        &["sh", "-c", "echo \"$FOO|$PATH|$(pwd)|$(id -u):$(id -g)\""],
    );
    c.spec.env.push("FOO=bar baz".into());
    c.spec.cwd = "/tmp".into();
    c.spec.uid = 65534;
    c.spec.gid = 65534;
    let o = c.run_fg();
    o.assert_ok();
    assert_eq!(
        o.stdout.trim(),
        "bar baz|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/tmp|65534:65534"
    );
}

#[test]
fn rlimit_nofile_applied() {
    let c = Container::with_args("lc_rlimit", &["sh", "-c", "ulimit -n"]);
    let o = c.run_fg();
    o.assert_ok();
    assert_eq!(o.stdout.trim(), "1024");
}

#[test]
fn no_new_privileges_and_caps() {
    let c = Container::with_args(
        "lc_caps",
        &[
            "sh",
            "-c",
            "grep -E '^(NoNewPrivs|CapEff|CapBnd):' /proc/self/status",
        ],
    );
    let o = c.run_fg();
    o.assert_ok();
    // CAP_KILL(5), CAP_NET_BIND_SERVICE(10), CAP_AUDIT_WRITE(29)
    let want = format!("{:016x}", (1u64 << 5) | (1 << 10) | (1 << 29));
    let field = |k: &str| {
        o.stdout
            .lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(|s| s.to_string())
    };
    assert_eq!(field("NoNewPrivs:").as_deref(), Some("1"), "{}", o.stdout);
    assert_eq!(
        field("CapEff:").as_deref(),
        Some(want.as_str()),
        "{}",
        o.stdout
    );
    assert_eq!(
        field("CapBnd:").as_deref(),
        Some(want.as_str()),
        "{}",
        o.stdout
    );
}

#[test]
fn state_of_stopped_container_keeps_id() {
    let c = Container::with_args("lc_stopped_state", &["true"]);
    c.create_and_start();
    c.wait_status("stopped", SHORT);
    let st = c.state_json();
    assert_eq!(json_field(&st, "id").as_deref(), Some(c.id.as_str()));
    // Killing a stopped container fails.
    let o = c.kill(Some("KILL"));
    o.assert_fail();
    // The Puncker contract: "container not running".
    o.assert_stderr_contains("not running");
}

#[test]
fn runtime_does_not_hold_stdio_after_create() {
    // `create` must return even though the container keeps running, and its
    // stdio must not be a pipe held by the runtime (we pass files).
    let c = Container::with_args("lc_create_returns", &["sh", "-c", "echo hi; sleep 1000"]);
    let o = c.create();
    o.assert_ok();
    assert!(o.elapsed < Duration::from_secs(15));
    c.start().assert_ok();
    c.wait_stdout("hi", SHORT);
}

#[test]
fn init_killed_from_host_is_stopped() {
    let c = Container::new("lc_hostkill");
    let pid = c.create_and_start();
    send_signal(pid, SIGKILL);
    c.wait_status("stopped", SHORT);
    c.delete(false).assert_ok();
    c.assert_no_traces();
    // The id can be reused after delete.
    c.create().assert_ok();
    assert_eq!(c.status(), "created");
    assert_ne!(c.pid(), pid);
}

#[test]
fn relative_bundle_is_recorded_absolute() {
    let c = Container::new("lc_relbundle");
    c.write_config_now();
    // The runtime runs with cwd = bundle, so "." is the bundle.
    c.rt(&["create", "--bundle", ".", &c.id]).assert_ok();
    let st = c.state_json();
    let b = json_field(&st, "bundle").unwrap_or_default();
    assert!(b.starts_with('/'), "bundle not absolute: {st}");
    assert_eq!(
        fs::canonicalize(&b).ok(),
        fs::canonicalize(&c.bundle).ok(),
        "{st}"
    );
}

#[test]
fn host_environment_does_not_leak() {
    let c = Container::with_args("lc_env_leak", &["env"]);
    c.write_config_now();
    let b = c.bundle_str();
    let (mut cmd, out, _) = c.command(&["run", "--bundle", &b, &c.id]);
    cmd.env("PUNCKER_HOST_ONLY_SECRET", "leaked");
    let mut ch = cmd.spawn().unwrap();
    let st = wait_deadline(&mut ch, "run env", CALL_TIMEOUT);
    assert!(st.success());
    let env = fs::read_to_string(out).unwrap();
    assert!(
        !env.contains("PUNCKER_HOST_ONLY_SECRET"),
        "host env leaked: {env}"
    );
    assert!(env.lines().any(|l| l == "TERM=xterm"), "{env}");
    assert!(
        env.lines()
            .any(|l| l == format!("PUNCKER_TEST_MARKER={}", c.marker)),
        "{env}"
    );
}

#[test]
fn kill_created_container() {
    let c = Container::new("lc_kill_created");
    c.create().assert_ok();
    let pid = c.pid();
    c.kill(Some("KILL")).assert_ok();
    c.wait_status("stopped", SHORT);
    assert!(
        wait_until(SHORT, || fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z"))
            .unwrap_or(true)),
        "init {pid} survived SIGKILL"
    );
    // It never ran the user program, and it cannot be started any more.
    c.start().assert_fail();
    c.delete(false).assert_ok();
    c.assert_no_traces();
}

#[test]
fn delete_force_of_unknown_id_succeeds() {
    let c = Container::new("lc_del_unknown");
    let o = c.rt(&["delete", "--force", &format!("nothing-{}", c.id)]);
    o.assert_ok();
    assert!(c.root_entries().is_empty());
}

#[test]
fn generated_spec_is_runnable() {
    let mut c = Container::new("lc_spec");
    let o = c.rt(&["spec", "--bundle", &c.bundle_str()]);
    o.assert_ok();
    let text = fs::read_to_string(c.config_path()).expect("spec wrote no config.json");
    for key in [
        "ociVersion",
        "process",
        "root",
        "mounts",
        "linux",
        "namespaces",
        "maskedPaths",
    ] {
        assert!(
            text.contains(&format!("\"{key}\"")),
            "generated spec lacks {key}:\n{text}"
        );
    }
    assert_eq!(json_field(&text, "terminal").as_deref(), Some("true"));
    assert_eq!(json_field(&text, "path").as_deref(), Some("rootfs"));
    // Make it non-interactive and run it with our rootfs.
    let mut t = text.clone();
    for pat in ["\"terminal\": true", "\"terminal\":true"] {
        t = t.replacen(pat, "\"terminal\": false", 1);
    }
    assert_eq!(
        t.matches("\"sh\"").count(),
        1,
        "expected args [\"sh\"]:\n{text}"
    );
    t = t.replacen("\"sh\"", "\"sh\", \"-c\", \"echo spec-ok\"", 1);
    fs::write(c.config_path(), &t).unwrap();
    c.write_config = false;
    let o = c.run_fg();
    o.assert_ok();
    assert_eq!(o.stdout.trim(), "spec-ok");
    // `spec` refuses to overwrite an existing config.json.
    let o = c.rt(&["spec", "--bundle", &c.bundle_str()]);
    o.assert_fail();
    assert_eq!(
        fs::read_to_string(c.config_path()).unwrap(),
        t,
        "spec overwrote config.json"
    );
}

/// The counter the paused container's shell keeps bumping, read from the host.
fn counter(c: &Container) -> u64 {
    std::fs::read_to_string(format!("/proc/{}/root/count", c.pid()))
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn pause_freezes_every_process_and_resume_lets_them_run() {
    let mut c = Container::with_args(
        "lc_pause",
        &[
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo $i > /count; sleep 0.01; done",
        ],
    );
    c.spec.root_readonly = false;
    c.create_and_start();
    assert!(
        wait_until(SHORT, || counter(&c) > 3),
        "the counter never ran"
    );

    c.rt(&["pause", &c.id]).assert_ok();
    assert_eq!(c.status(), "paused");
    let frozen = counter(&c);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        counter(&c),
        frozen,
        "the container kept running while paused"
    );
    let exec = c.rt(&["exec", &c.id, "true"]);
    assert!(
        !exec.ok() && exec.stderr.contains("paused") && exec.stderr.contains("--ignore-paused"),
        "exec into a paused container must be refused clearly: {}",
        exec.describe()
    );
    let again = c.rt(&["pause", &c.id]);
    assert!(
        !again.ok() && again.stderr.contains("paused"),
        "{}",
        again.describe()
    );

    c.rt(&["resume", &c.id]).assert_ok();
    assert_eq!(c.status(), "running");
    assert!(
        wait_until(SHORT, || counter(&c) > frozen + 3),
        "the counter did not move after resume"
    );
    let again = c.rt(&["resume", &c.id]);
    assert!(
        !again.ok() && again.stderr.contains("not paused"),
        "{}",
        again.describe()
    );
}

#[test]
fn delete_force_of_a_paused_container_leaves_nothing() {
    let c = Container::with_args("lc_pause_del", &["sh", "-c", "sleep 100 & sleep 100"]);
    c.create_and_start();
    c.rt(&["pause", &c.id]).assert_ok();
    let running = c.rt(&["delete", &c.id]);
    assert!(
        !running.ok() && running.stderr.contains("is paused"),
        "{}",
        running.describe()
    );
    c.delete(true).assert_ok();
    c.assert_no_traces();
    assert_eq!(cgroup_dirs_matching(&c.id), Vec::<String>::new());
}

#[test]
fn pause_of_a_stopped_container_fails_clearly() {
    let c = Container::with_args("lc_pause_stopped", &["true"]);
    c.create_and_start();
    c.wait_status("stopped", SHORT);
    let o = c.rt(&["pause", &c.id]);
    assert!(
        !o.ok() && o.stderr.contains("lc_pause_stopped") && o.stderr.contains("stopped"),
        "{}",
        o.describe()
    );
}

/// `exec --ignore-paused` into a paused container: the new process is born
/// frozen, and runs (and exec returns) only at `resume`.
#[test]
fn exec_ignore_paused_runs_at_resume() {
    let mut c = Container::with_args("lc_pause_exec", &["sleep", "1000"]);
    c.spec.root_readonly = false;
    c.create_and_start();
    c.rt(&["pause", &c.id]).assert_ok();
    let (mut cmd, _, _) = c.command(&[
        "exec",
        "--ignore-paused",
        &c.id,
        "sh",
        "-c",
        "echo ran > /ran",
    ]);
    let mut exec = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let ran = format!("/proc/{}/root/ran", c.pid());
    assert!(
        exec.try_wait().unwrap().is_none() && !std::path::Path::new(&ran).exists(),
        "the exec'd process ran while the container was paused"
    );
    c.rt(&["resume", &c.id]).assert_ok();
    assert!(
        wait_until(SHORT, || exec.try_wait().unwrap().is_some()),
        "exec did not return after resume"
    );
    assert!(exec.wait().unwrap().success());
    assert_eq!(fs::read_to_string(&ran).unwrap_or_default(), "ran\n");
}
