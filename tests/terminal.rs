//! Terminals and stdio: `process.terminal` with a console socket, the
//! foreground relay of `run`, and descriptors passed into the container
//! (`--preserve-fds`, systemd's `LISTEN_FDS`).
//!
//! The test plays the manager's part (containerd, conmon): it listens on the
//! console socket, receives the pty master with SCM_RIGHTS and types into
//! it. Nothing here needs a terminal of the test runner's own.

mod common;

use common::*;
use std::fs;
use std::process::{Command, Stdio};

/// A container whose process has a terminal of `rows` x `cols`.
fn terminal_container(name: &str, args: &[&str], size: Option<(u16, u16)>) -> Container {
    let mut c = Container::with_args(name, args);
    c.spec.terminal = true;
    if let Some((rows, cols)) = size {
        c.spec.process_extra.push(format!(
            "\"consoleSize\":{{\"height\":{rows},\"width\":{cols}}}"
        ));
    }
    c
}

/// create --console-socket, receive the master, start. Returns the master
/// and the pty name the runtime sent along with it.
#[track_caller]
fn create_with_console(c: &Container) -> (Pty, String) {
    let sock = ConsoleSocket::new(c, "console.sock");
    c.create_with(&["--console-socket", &sock.path_str()])
        .assert_ok();
    let (pty, name) = sock
        .recv_master(SHORT)
        .unwrap_or_else(|e| panic!("console socket: {e}"));
    (pty, name)
}

#[test]
fn console_socket_gets_the_master() {
    let c = terminal_container("term_master", &["sh"], None);
    let (mut pty, name) = create_with_console(&c);
    // Puncker sends the pty's name (/dev/pts/0); runc sends "/dev/ptmx".
    // Managers only use the fd; the payload is just a path.
    assert!(name.starts_with("/dev/"), "payload {name:?}");
    assert_eq!(c.status(), "created");
    // Nothing runs yet, but the terminal is there: typed input waits.
    pty.type_in("echo early-$((2*3))\n");
    c.start().assert_ok();
    pty.read_until("early-6", SHORT);
}

#[test]
fn tty_and_console_size_inside() {
    let c = terminal_container("term_size", &["sh"], Some((37, 101)));
    let (mut pty, _) = create_with_console(&c);
    c.start().assert_ok();
    pty.type_in("tty; stty size\n");
    pty.read_until_with("a line \"37 101\"", SHORT, |s| {
        s.lines().any(|l| l.trim_end_matches('\r') == "37 101")
    });
    let lines = pty.lines();
    assert!(
        lines.iter().any(|l| l == "/dev/pts/0"),
        "`tty` did not print /dev/pts/0: {:?}",
        pty.seen
    );
}

#[test]
fn typed_input_reaches_the_process() {
    let c = terminal_container(
        "term_input",
        &["sh", "-c", "read line; echo \"got:[$line]\"; sleep 30"],
        None,
    );
    let (mut pty, _) = create_with_console(&c);
    c.start().assert_ok();
    pty.type_in("hello terminal\n");
    pty.read_until("got:[hello terminal]", SHORT);
}

/// The children of `pid` (host pids), from /proc.
fn children(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn ctrl_c_interrupts_the_foreground_child() {
    let c = terminal_container(
        "term_ctrlc",
        // Without a trap, a non-interactive shell ends its whole script
        // on ^C (as it should); with one, it carries on after the child.
        &[
            "sh",
            "-c",
            "trap 'echo got-sigint' INT; echo ready; sleep 100; echo after; sleep 30",
        ],
        None,
    );
    let (mut pty, _) = create_with_console(&c);
    c.start().assert_ok();
    let init = c.pid();
    pty.read_until("ready", SHORT);
    // Wait until the shell's `sleep 100` really runs.
    let mut sleeper = None;
    let ok = wait_until(SHORT, || {
        sleeper = children(init).into_iter().find(|p| {
            fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default() == b"sleep\x00100\x00"
        });
        sleeper.is_some()
    });
    assert!(ok, "sleep 100 never started under init {init}");
    pty.type_in("\x03");
    pty.read_until("after", SHORT);
    assert!(pty.seen.contains("got-sigint"), "{:?}", pty.seen);
    let sleeper = sleeper.unwrap();
    assert!(
        wait_until(SHORT, || !std::path::Path::new(&format!(
            "/proc/{sleeper}/cmdline"
        ))
        .exists()
            || fs::read(format!("/proc/{sleeper}/cmdline")).unwrap_or_default()
                != b"sleep\x00100\x00"),
        "sleep {sleeper} survived Ctrl-C"
    );
    assert_eq!(c.status(), "running", "the shell (PID 1) should survive");
}

#[test]
fn dev_console_is_the_pty() {
    let c = terminal_container(
        "term_console",
        &[
            "sh",
            "-c",
            "stat -c 'console=%F:%t:%T' /dev/console; stat -c \"pts=%F:%t:%T\" $(tty); sleep 30",
        ],
        None,
    );
    let (mut pty, _) = create_with_console(&c);
    c.start().assert_ok();
    let pid = c.pid();
    pty.read_until_with("console= and pts= lines", SHORT, |s| {
        s.lines().any(|l| l.starts_with("console=")) && s.lines().any(|l| l.starts_with("pts="))
    });
    let lines = pty.lines();
    let console = lines.iter().find(|l| l.starts_with("console=")).unwrap();
    let pts = lines.iter().find(|l| l.starts_with("pts=")).unwrap();
    // 136 is 0x88: the first Unix98 pty slave major.
    assert!(
        console.starts_with("console=character special file:88:"),
        "/dev/console is not a pty slave (136:N): {console}"
    );
    assert_eq!(
        console.trim_start_matches("console="),
        pts.trim_start_matches("pts="),
        "/dev/console is not the process's own terminal"
    );
    // Seen from the host too.
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(format!("/proc/{pid}/root/dev/console")).unwrap();
    assert!(is_char_device(std::path::Path::new(&format!(
        "/proc/{pid}/root/dev/console"
    ))));
    let major = (m.rdev() >> 8) & 0xfff;
    assert_eq!(major, 136, "rdev {:#x}", m.rdev());
}

/// No terminal on puncker's side (stdin is a pipe): the relay still runs.
/// (Puncker-specific: runc refuses, it opens /dev/tty.)
#[test]
fn foreground_run_relays_piped_input() {
    let c = terminal_container("term_fg_pipe", &["sh"], None);
    let out = c.run_fg_stdin(b"echo $((40+2))x\nexit 7\n");
    assert_eq!(out.code(), Some(7), "{}", out.describe());
    assert!(out.stdout.contains("42x"), "{}", out.describe());
    c.assert_no_traces();
}

#[test]
fn foreground_run_under_script() {
    let c = terminal_container("term_fg_script", &["sh"], Some((30, 90)));
    c.write_config_now();
    let b = c.bundle_str();
    let out = run_under_script(
        &c,
        &["run", "--bundle", &b, &c.id],
        &["echo $((40+2))x; tty\n", "exit 7\n"],
    );
    assert_eq!(out.code(), Some(7), "{}", out.describe());
    assert!(out.stdout.contains("42x"), "{}", out.describe());
    assert!(out.stdout.contains("/dev/pts/0"), "{}", out.describe());
    c.assert_no_traces();
}

#[test]
fn console_socket_that_does_not_exist() {
    let c = terminal_container("term_nosock", &["sh"], None);
    let missing = c.dir.join("no-such-dir").join("console.sock");
    let out = c.create_with(&["--console-socket", &missing.to_string_lossy()]);
    out.assert_fail();
    let err = out.stderr.to_lowercase();
    assert!(
        err.contains("console"),
        "error should name the console socket: {}",
        out.describe()
    );
    assert!(
        err.contains("no such file") || out.stderr.contains(&*missing.to_string_lossy()),
        "error should say what is wrong with the path: {}",
        out.describe()
    );
    assert!(
        c.root_entries().is_empty(),
        "--root not empty: {:?}",
        c.root_entries()
    );
    c.assert_no_traces();
}

#[test]
fn terminal_without_console_socket_create_fails() {
    let c = terminal_container("term_nosockarg", &["sh"], None);
    let out = c.create();
    out.assert_fail();
    let err = out.stderr.to_lowercase();
    assert!(
        err.contains("console") && err.contains("socket"),
        "error should say a console socket is needed: {}",
        out.describe()
    );
    c.assert_no_traces();
}

// ---------------------------------------------------------------------------
// Descriptors passed into the container
// ---------------------------------------------------------------------------

/// A host file holding `text`, opened for reading.
fn data_file(c: &Container, name: &str, text: &str) -> fs::File {
    let p = c.dir.join(name);
    fs::write(&p, text).unwrap();
    fs::File::open(&p).unwrap()
}

const SHOW_FDS: &str = "cat <&3; echo; if [ -e /proc/self/fd/4 ]; then cat <&4; echo; echo fd4-open; else echo fd4-closed; fi; if [ -e /proc/self/fd/5 ]; then echo fd5-open; else echo fd5-closed; fi; echo \"listen=$LISTEN_FDS:$LISTEN_PID\"";

#[test]
fn run_preserve_fds_passes_exactly_n() {
    let c = Container::with_args("fd_preserve_run", &["sh", "-c", SHOW_FDS]);
    c.write_config_now();
    let b = c.bundle_str();
    let args = ["run", "--bundle", &b, "--preserve-fds", "1", &c.id];
    let (mut cmd, o, e) = c.command(&args);
    pass_fds(
        &mut cmd,
        vec![
            data_file(&c, "f3", "data-on-fd3"),
            data_file(&c, "f4", "data-on-fd4"),
        ],
    );
    let out = finish(cmd, &args.join(" "), &o, &e);
    out.assert_ok();
    assert!(out.stdout.contains("data-on-fd3"), "{}", out.describe());
    assert!(
        out.stdout.contains("fd4-closed") && !out.stdout.contains("data-on-fd4"),
        "fd 4 was not asked for: {}",
        out.describe()
    );
    assert!(out.stdout.contains("listen=:"), "{}", out.describe());
    c.assert_no_traces();
}

/// `sh -c 'LISTEN_PID=$$ LISTEN_FDS=n exec BIN --root ROOT args...'`: the
/// runtime gets socket-activation variables naming itself, as systemd does.
fn socket_activated(
    c: &Container,
    listen_pid: Option<&str>,
    n: u32,
    args: &[&str],
) -> (Command, std::path::PathBuf, std::path::PathBuf) {
    let (_, o, e) = c.command(&[]);
    let pid = listen_pid.unwrap_or("$$");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "LISTEN_PID={pid} LISTEN_FDS={n} exec \"$0\" \"$@\""
        ))
        .arg(bin())
        .arg("--root")
        .arg(&c.root)
        .args(args)
        .current_dir(&c.bundle)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&o).unwrap())
        .stderr(fs::File::create(&e).unwrap());
    (cmd, o, e)
}

#[test]
fn listen_fds_are_passed_and_announced() {
    let c = Container::with_args("fd_listen", &["sh", "-c", SHOW_FDS]);
    c.write_config_now();
    let b = c.bundle_str();
    let args = ["run", "--bundle", &b, &c.id];
    let (mut cmd, o, e) = socket_activated(&c, None, 1, &args);
    pass_fds(
        &mut cmd,
        vec![
            data_file(&c, "f3", "socket-on-fd3"),
            data_file(&c, "f4", "not-for-you"),
        ],
    );
    let out = finish(cmd, &format!("LISTEN_FDS=1 {}", args.join(" ")), &o, &e);
    out.assert_ok();
    assert!(out.stdout.contains("socket-on-fd3"), "{}", out.describe());
    assert!(out.stdout.contains("fd4-closed"), "{}", out.describe());
    assert!(out.stdout.contains("listen=1:1"), "{}", out.describe());
    c.assert_no_traces();
}

#[test]
fn listen_fds_and_preserve_fds_add_up() {
    let c = Container::with_args("fd_listen_preserve", &["sh", "-c", SHOW_FDS]);
    c.write_config_now();
    let b = c.bundle_str();
    let args = ["run", "--bundle", &b, "--preserve-fds", "1", &c.id];
    let (mut cmd, o, e) = socket_activated(&c, None, 1, &args);
    pass_fds(
        &mut cmd,
        vec![
            data_file(&c, "f3", "socket-on-fd3"),
            data_file(&c, "f4", "extra-on-fd4"),
            data_file(&c, "f5", "not-for-you"),
        ],
    );
    let out = finish(cmd, &format!("LISTEN_FDS=1 {}", args.join(" ")), &o, &e);
    out.assert_ok();
    assert!(out.stdout.contains("socket-on-fd3"), "{}", out.describe());
    assert!(out.stdout.contains("extra-on-fd4"), "{}", out.describe());
    assert!(out.stdout.contains("fd5-closed"), "{}", out.describe());
    assert!(out.stdout.contains("listen=1:1"), "{}", out.describe());
    c.assert_no_traces();
}

/// sd_listen_fds(3): LISTEN_FDS counts only when LISTEN_PID is the
/// receiving process. Variables inherited from an ancestor that was socket
/// activated describe that ancestor's fds, not ours.
#[test]
fn listen_fds_for_another_pid_are_ignored() {
    let c = Container::with_args("fd_listen_foreign", &["sh", "-c", SHOW_FDS]);
    c.write_config_now();
    let b = c.bundle_str();
    let args = ["run", "--bundle", &b, &c.id];
    let (mut cmd, o, e) = socket_activated(&c, Some("1"), 1, &args);
    pass_fds(&mut cmd, vec![data_file(&c, "f3", "someone-elses-socket")]);
    let out = finish(
        cmd,
        &format!("LISTEN_PID=1 LISTEN_FDS=1 {}", args.join(" ")),
        &o,
        &e,
    );
    assert!(
        !out.stdout.contains("someone-elses-socket"),
        "fd 3 passed although LISTEN_PID is not the runtime's pid: {}",
        out.describe()
    );
    assert!(
        !out.stdout.contains("listen=1:1"),
        "LISTEN_FDS announced although LISTEN_PID is not the runtime's pid: {}",
        out.describe()
    );
    c.assert_no_traces();
}

#[test]
fn create_preserve_fds_reach_the_started_process() {
    let c = Container::with_args(
        "fd_preserve_create",
        &["sh", "-c", &format!("{SHOW_FDS}; sleep 30")],
    );
    c.write_config_now();
    let b = c.bundle_str();
    let args = ["create", "--bundle", &b, "--preserve-fds", "1", &c.id];
    let (mut cmd, o, e) = c.command(&args);
    pass_fds(&mut cmd, vec![data_file(&c, "f3", "kept-until-start")]);
    let out = finish(cmd, &args.join(" "), &o, &e);
    out.assert_ok();
    c.start().assert_ok();
    // The container's stdout is the create call's output file.
    let mut s = String::new();
    let ok = wait_until(SHORT, || {
        s = fs::read_to_string(&o).unwrap_or_default();
        s.contains("listen=")
    });
    assert!(ok, "no output from the container: {s:?}");
    assert!(s.contains("kept-until-start"), "{s:?}");
}
