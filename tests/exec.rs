//! `exec`: one more process in a running container, which must end up where
//! the init is (its namespaces, its mounts) with the credentials, environment
//! and descriptors the command line asks for.

mod common;

use common::*;
use std::fs;
use std::path::Path;

/// A running container (`sleep 1000`) and its init's host pid.
fn running(name: &str) -> (Container, i32) {
    let c = Container::new(name);
    let pid = c.create_and_start();
    (c, pid)
}

/// `exec [flags] ID cmd...`
fn exec(c: &Container, flags: &[&str], cmd: &[&str]) -> Out {
    let mut a = vec!["exec"];
    a.extend_from_slice(flags);
    a.push(&c.id);
    a.extend_from_slice(cmd);
    c.rt(&a)
}

#[track_caller]
fn exec_ok(c: &Container, flags: &[&str], cmd: &[&str]) -> String {
    let out = exec(c, flags, cmd);
    out.assert_ok();
    out.stdout
}

/// The value of `Key:` in a /proc/PID/status text.
fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .trim()
        .to_string()
}

#[test]
fn exec_shares_the_pid_namespace() {
    let (c, _) = running("ex_pidns");
    let cmdline = exec_ok(&c, &[], &["cat", "/proc/1/cmdline"]);
    assert_eq!(cmdline, "sleep\x001000\x00", "PID 1 is not the init");
    let me = exec_ok(&c, &[], &["sh", "-c", "echo $$"]);
    let me: i32 = me
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("echo $$ printed {me:?}"));
    assert!(me > 1, "exec'd process has pid {me} in the container");
}

#[test]
fn exec_joins_every_namespace_of_the_init() {
    let (c, pid) = running("ex_allns");
    let out = exec_ok(
        &c,
        &[],
        &[
            "sh",
            "-c",
            "for n in pid net ipc uts mnt cgroup; do echo \"$n=$(readlink /proc/self/ns/$n)\"; done",
        ],
    );
    for ns in ["pid", "net", "ipc", "uts", "mnt", "cgroup"] {
        let want = ns_link(&pid.to_string(), ns);
        let got = out
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{ns}=")))
            .unwrap_or_else(|| panic!("no {ns} in {out:?}"));
        assert_eq!(got, want, "{ns} namespace differs from the init's");
    }
}

#[test]
fn exec_sees_the_hostname() {
    let mut c = Container::new("ex_hostname");
    c.spec.hostname = Some("pk-exec-host".into());
    c.create_and_start();
    assert_eq!(exec_ok(&c, &[], &["hostname"]).trim(), "pk-exec-host");
}

/// (mount id, mount point) of every line of a mountinfo text.
fn mount_points(mountinfo: &str) -> Vec<(String, String)> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.first()?.to_string(), f.get(4)?.to_string()))
        })
        .collect()
}

#[test]
fn exec_sees_the_same_mount_table() {
    let c = Container::with_args(
        "ex_mounts",
        &[
            "sh",
            "-c",
            "cat /proc/self/mountinfo > /dev/shm/init-mountinfo; exec sleep 1000",
        ],
    );
    let pid = c.create_and_start();
    let mut init_own = String::new();
    assert!(
        wait_until(SHORT, || {
            init_own = fs::read_to_string(format!("/proc/{pid}/root/dev/shm/init-mountinfo"))
                .unwrap_or_default();
            !init_own.is_empty()
        }),
        "the init never wrote its mountinfo"
    );
    let exec_view = exec_ok(&c, &[], &["cat", "/proc/self/mountinfo"]);
    let from_host = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    assert_eq!(
        mount_points(&exec_view),
        mount_points(&init_own),
        "exec'd mount table differs from the init's own\nexec:\n{exec_view}\ninit:\n{init_own}"
    );
    assert_eq!(mount_points(&exec_view), mount_points(&from_host));
    // And it is the container's table, not the host's.
    assert!(mount_points(&exec_view)
        .iter()
        .any(|(_, m)| m == "/dev/shm"));
    let cwd = exec_ok(&c, &[], &["sh", "-c", "ls /"]);
    assert!(
        !cwd.contains("work"),
        "exec'd process sees the host root: {cwd}"
    );
}

#[test]
fn exec_user_and_groups() {
    let (c, _) = running("ex_user");
    let st = exec_ok(
        &c,
        &["--user", "1000:1001", "--additional-gids", "2000"],
        &["cat", "/proc/self/status"],
    );
    assert_eq!(
        status_field(&st, "Uid")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["1000"; 4]
    );
    assert_eq!(
        status_field(&st, "Gid")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["1001"; 4]
    );
    let groups = status_field(&st, "Groups");
    assert!(
        groups.split_whitespace().any(|g| g == "2000"),
        "additional gid missing: Groups: {groups}"
    );
    // The default is the config's user: root.
    let st = exec_ok(&c, &[], &["cat", "/proc/self/status"]);
    assert_eq!(
        status_field(&st, "Uid").split_whitespace().next(),
        Some("0")
    );
}

#[test]
fn exec_env_adds_and_replaces() {
    let (c, _) = running("ex_env");
    let out = exec_ok(
        &c,
        &["--env", "FOO=bar baz", "--env", "TERM=dumb"],
        &["env"],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&"FOO=bar baz"), "{out}");
    assert!(lines.contains(&"TERM=dumb"), "{out}");
    assert!(!lines.contains(&"TERM=xterm"), "TERM not replaced: {out}");
    assert!(
        lines.contains(&format!("PUNCKER_TEST_MARKER={}", c.marker).as_str()),
        "config env lost: {out}"
    );
}

#[test]
fn exec_cwd() {
    let (c, _) = running("ex_cwd");
    assert_eq!(exec_ok(&c, &["--cwd", "/proc"], &["pwd"]).trim(), "/proc");
    assert_eq!(exec_ok(&c, &[], &["pwd"]).trim(), "/");
}

fn cap_eff(c: &Container, flags: &[&str]) -> u64 {
    let st = exec_ok(c, flags, &["cat", "/proc/self/status"]);
    u64::from_str_radix(&status_field(&st, "CapEff"), 16).unwrap()
}

#[test]
fn exec_cap_adds_a_capability() {
    const CAP_SYS_ADMIN: u64 = 21;
    const CAP_KILL: u64 = 5;
    let (c, _) = running("ex_cap");
    let plain = cap_eff(&c, &[]);
    assert_eq!(plain & (1 << CAP_SYS_ADMIN), 0, "CapEff {plain:#x}");
    assert_ne!(plain & (1 << CAP_KILL), 0, "config caps lost: {plain:#x}");
    let more = cap_eff(&c, &["--cap", "CAP_SYS_ADMIN"]);
    assert_ne!(more & (1 << CAP_SYS_ADMIN), 0, "CapEff {more:#x}");
    assert_ne!(more & (1 << CAP_KILL), 0, "config caps lost: {more:#x}");
}

#[test]
fn exec_returns_the_exit_status() {
    let (c, _) = running("ex_status");
    let out = exec(&c, &[], &["sh", "-c", "echo out; exit 42"]);
    assert_eq!(out.code(), Some(42), "{}", out.describe());
    assert_eq!(out.stdout.trim(), "out");
    let out = exec(&c, &[], &["sh", "-c", "kill -9 $$"]);
    assert_eq!(out.code(), Some(137), "{}", out.describe());
    assert_eq!(exec(&c, &[], &["true"]).code(), Some(0));
    assert_eq!(c.status(), "running");
}

#[test]
fn exec_process_json() {
    let (c, _) = running("ex_process_json");
    let file = c.dir.join("process.json");
    fs::write(
        &file,
        r#"{"terminal":false,"user":{"uid":0,"gid":0},"args":["sh","-c","echo \"$FOO in $(pwd)\"; exit 3"],"env":["PATH=/bin","FOO=fromjson"],"cwd":"/tmp"}"#,
    )
    .unwrap();
    let f = file.to_string_lossy().to_string();
    let out = c.rt(&["exec", "--process", &f, &c.id]);
    assert_eq!(out.code(), Some(3), "{}", out.describe());
    assert_eq!(out.stdout.trim(), "fromjson in /tmp");
}

#[test]
fn exec_detach_pid_file() {
    let (c, init) = running("ex_detach");
    let pid_file = c.dir.join("exec.pid");
    let pf = pid_file.to_string_lossy().to_string();
    let out = exec(&c, &["--detach", "--pid-file", &pf], &["sleep", "500"]);
    out.assert_ok();
    let text = fs::read_to_string(&pid_file).expect("pid file");
    let pid: i32 = text
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("pid file holds {text:?}"));
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} is gone"
    );
    assert_eq!(
        fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default(),
        b"sleep\x00500\x00",
        "pid {pid} is not the exec'd process"
    );
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let state = stat.rsplit(')').next().unwrap().split_whitespace().next();
    assert_ne!(state, Some("Z"), "exec'd process is a zombie");
    assert_eq!(
        ns_link(&pid.to_string(), "pid"),
        ns_link(&init.to_string(), "pid"),
        "detached process is not in the container's pid namespace"
    );
    // Inside the container it shows up too.
    let ps = exec_ok(
        &c,
        &[],
        &["sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"],
    );
    assert!(ps.contains("sleep 500"), "{ps}");
}

#[test]
fn exec_preserve_fds() {
    let (c, _) = running("ex_preserve");
    let mk = |name: &str, text: &str| {
        let p = c.dir.join(name);
        fs::write(&p, text).unwrap();
        fs::File::open(&p).unwrap()
    };
    let args = [
        "exec",
        "--preserve-fds",
        "1",
        &c.id,
        "sh",
        "-c",
        "cat <&3; echo; if [ -e /proc/self/fd/4 ]; then echo fd4-open; else echo fd4-closed; fi",
    ];
    let (mut cmd, o, e) = c.command(&args);
    pass_fds(&mut cmd, vec![mk("f3", "exec-fd3-data"), mk("f4", "nope")]);
    let out = finish(cmd, &args.join(" "), &o, &e);
    out.assert_ok();
    assert!(out.stdout.contains("exec-fd3-data"), "{}", out.describe());
    assert!(out.stdout.contains("fd4-closed"), "{}", out.describe());
}

#[test]
fn exec_tty_foreground_under_script() {
    let (c, _) = running("ex_tty_fg");
    let out = run_under_script(
        &c,
        &[
            "exec",
            "-t",
            &c.id,
            "sh",
            "-c",
            "tty; read x; echo \"read:$x\"; exit 4",
        ],
        &["typed-line\n"],
    );
    assert_eq!(out.code(), Some(4), "{}", out.describe());
    assert!(out.stdout.contains("/dev/pts/"), "{}", out.describe());
    assert!(out.stdout.contains("read:typed-line"), "{}", out.describe());
}

/// Puncker relays even when its own stdin is no terminal (runc refuses:
/// it opens /dev/tty).
#[test]
fn exec_tty_foreground_without_a_terminal() {
    let (c, _) = running("ex_tty_notty");
    let out = exec(&c, &["-t"], &["sh", "-c", "tty; exit 4"]);
    assert_eq!(out.code(), Some(4), "{}", out.describe());
    assert!(out.stdout.contains("/dev/pts/"), "{}", out.describe());
}

#[test]
fn exec_tty_with_console_socket() {
    let (c, _) = running("ex_tty_sock");
    let sock = ConsoleSocket::new(&c, "exec-console.sock");
    let pf = c.dir.join("exec.pid").to_string_lossy().to_string();
    let s = sock.path_str();
    exec(
        &c,
        &["-t", "-d", "--console-socket", &s, "--pid-file", &pf],
        &["sh"],
    )
    .assert_ok();
    let (mut pty, name) = sock
        .recv_master(SHORT)
        .unwrap_or_else(|e| panic!("console socket: {e}"));
    assert!(name.starts_with("/dev/"), "payload {name:?}");
    pty.type_in("tty; echo typed-$((1+2))\n");
    pty.read_until("typed-3", SHORT);
    assert!(
        pty.lines().iter().any(|l| l.starts_with("/dev/pts/")),
        "`tty` printed no /dev/pts/N: {:?}",
        pty.seen
    );
    let pid: i32 = fs::read_to_string(&pf).unwrap().trim().parse().unwrap();
    pty.type_in("exit\n");
    assert!(
        wait_until(SHORT, || {
            fs::read(format!("/proc/{pid}/cmdline")).map_or(true, |b| b.is_empty())
        }),
        "shell {pid} did not exit"
    );
}

// ---------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------

#[test]
fn exec_tty_detach_without_console_socket_fails() {
    let (c, _) = running("ex_tty_d_nosock");
    let out = exec(&c, &["-t", "-d"], &["sh"]);
    out.assert_fail();
    let err = out.stderr.to_lowercase();
    assert!(
        err.contains("console") && err.contains("socket"),
        "error should say a console socket is needed: {}",
        out.describe()
    );
    assert_eq!(c.status(), "running");
}

/// (Stricter than runc, whose message is only "unexpected EOF".)
#[test]
fn exec_malformed_process_json_names_the_file() {
    let (c, _) = running("ex_bad_json");
    let file = c.dir.join("broken-process.json");
    fs::write(&file, "{\"args\": [\"sh\", ").unwrap();
    let f = file.to_string_lossy().to_string();
    let out = c.rt(&["exec", "--process", &f, &c.id]);
    out.assert_fail().assert_stderr_contains(&f);
    assert_eq!(c.status(), "running");
}

#[test]
fn exec_into_stopped_container_fails() {
    let c = Container::with_args("ex_stopped", &["true"]);
    c.create_and_start();
    c.wait_status("stopped", SHORT);
    let out = exec(&c, &[], &["true"]);
    out.assert_fail().assert_stderr_contains("stopped");
}

#[test]
fn exec_into_unknown_container_fails() {
    let c = Container::new("ex_unknown");
    let out = exec(&c, &[], &["true"]);
    out.assert_fail();
    assert!(
        out.stderr.contains(&c.id) || out.stderr.contains("not exist"),
        "error should say there is no such container: {}",
        out.describe()
    );
    assert!(c.root_entries().is_empty(), "{:?}", c.root_entries());
}

#[test]
fn exec_missing_program_fails() {
    let (c, _) = running("ex_noprog");
    let out = exec(&c, &[], &["/no/such/program"]);
    out.assert_fail().assert_stderr_contains("exec failed");
    assert!(
        out.stderr.contains("/no/such/program"),
        "error should name the program: {}",
        out.describe()
    );
    assert_eq!(c.status(), "running");
}

#[test]
fn exec_tty_in_a_terminal_container_gets_a_pty_of_its_own() {
    let mut c = Container::with_args("ex_tty_two", &["sh"]);
    c.spec.terminal = true;
    let init_sock = ConsoleSocket::new(&c, "init-console.sock");
    c.create_with(&["--console-socket", &init_sock.path_str()])
        .assert_ok();
    let (mut init_pty, _) = init_sock.recv_master(SHORT).unwrap();
    c.start().assert_ok();
    init_pty.type_in("tty\n");
    init_pty.read_until("/dev/pts/0", SHORT);

    let sock = ConsoleSocket::new(&c, "exec-console.sock");
    let s = sock.path_str();
    exec(&c, &["-t", "-d", "--console-socket", &s], &["sh"]).assert_ok();
    let (mut pty, _) = sock.recv_master(SHORT).unwrap();
    pty.type_in("echo \"mine=$(tty)\"; stat -c 'console=%t:%T' /dev/console\n");
    pty.read_until_with("mine= and console= lines", SHORT, |s| {
        s.lines().any(|l| l.starts_with("mine=")) && s.lines().any(|l| l.starts_with("console="))
    });
    let lines = pty.lines();
    let mine = lines.iter().find(|l| l.starts_with("mine=")).unwrap();
    let console = lines.iter().find(|l| l.starts_with("console=")).unwrap();
    assert!(mine.starts_with("mine=/dev/pts/"), "{mine}");
    assert_ne!(
        mine, "mine=/dev/pts/0",
        "exec'd process shares the init's pty"
    );
    assert_eq!(
        console, "console=88:0",
        "/dev/console should stay the init's pts/0"
    );
    pty.type_in("exit\n");
}

/// The pid a pidfd names, from /proc/self/fdinfo.
fn pid_of_pidfd(fd: i32) -> Option<i32> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|p| p.trim().parse().ok())
}

#[test]
fn pidfd_socket_gets_the_init_and_the_exec_process() {
    use std::os::fd::AsRawFd;
    let c = Container::with_args("ex_pidfd", &["sleep", "1000"]);
    let sock = ConsoleSocket::new(&c, "pidfd.sock");
    c.create_with(&["--pidfd-socket", &sock.path_str()])
        .assert_ok();
    let (fd, payload) = sock.recv_master(SHORT).expect("a pidfd on the socket");
    assert_eq!(payload, "pidfd");
    assert_eq!(
        pid_of_pidfd(fd.file.as_raw_fd()),
        Some(c.pid()),
        "pidfd names the init"
    );
    c.start().assert_ok();

    let sock2 = ConsoleSocket::new(&c, "pidfd2.sock");
    let pidfile = c.dir.join("exec.pid");
    c.rt(&[
        "exec",
        "-d",
        "--pidfd-socket",
        &sock2.path_str(),
        "--pid-file",
        &pidfile.to_string_lossy(),
        &c.id,
        "sleep",
        "100",
    ])
    .assert_ok();
    let (fd2, _) = sock2
        .recv_master(SHORT)
        .expect("a pidfd for the exec'd process");
    let want: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        pid_of_pidfd(fd2.file.as_raw_fd()),
        Some(want),
        "pidfd names the exec'd process"
    );
}

/// A process JSON that spells the scheduler flags as the spec does is
/// accepted (oci-spec 0.10 spells two of them its own way), and its nice
/// value applies.
#[test]
fn exec_process_json_with_spec_scheduler_flags() {
    let (c, _) = running("ex_sched_flags");
    let file = c.dir.join("process.json");
    fs::write(
        &file,
        r#"{"terminal":false,"user":{"uid":0,"gid":0},"args":["sh","-c","cut -d' ' -f19 /proc/self/stat"],"env":["PATH=/bin"],"cwd":"/","scheduler":{"policy":"SCHED_OTHER","nice":5,"flags":["SCHED_FLAG_RESET_ON_FORK"]}}"#,
    )
    .unwrap();
    let f = file.to_string_lossy().to_string();
    let out = c.rt(&["exec", "--process", &f, &c.id]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "5", "nice of the exec'd process");
}
