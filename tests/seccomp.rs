//! linux.seccomp in real containers: the filter is in force, errno and
//! argument rules answer as configured, kill actions kill, a notify agent
//! gets the fd and answers, Docker's profile loads, and bad input fails
//! `create` naming the field, with nothing left behind.

mod common;

use common::*;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::time::Duration;

/// A container running `sh -c script` with a writable rootfs, so that
/// only a filter can refuse a mkdir.
fn container(name: &str, script: &str) -> Container {
    let mut c = Container::with_args(name, &["sh", "-c", script]);
    c.spec.root_readonly = false;
    c
}

/// The same, under `seccomp` (the JSON object for linux.seccomp).
fn with_filter(name: &str, script: &str, seccomp: &str) -> Container {
    let mut c = container(name, script);
    c.spec.linux_extra.push(format!("\"seccomp\":{seccomp}"));
    c
}

#[test]
fn filter_is_in_force() {
    let c = with_filter(
        "sc-status",
        "grep -E '^Seccomp(_filters)?:' /proc/self/status",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["kexec_load"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    let out = c.run_fg();
    out.assert_ok();
    assert!(out.stdout.contains("Seccomp:\t2"), "{}", out.describe());
    assert!(
        out.stdout.contains("Seccomp_filters:\t1"),
        "{}",
        out.describe()
    );
}

#[test]
fn errno_action_defaults_to_eperm() {
    let c = with_filter(
        "sc-eperm",
        "mkdir /tmp/x; [ -d /tmp/x ] && echo exists || echo absent",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    let out = c.run_fg();
    assert!(
        out.stderr.contains("Operation not permitted") && out.stdout.contains("absent"),
        "{}",
        out.describe()
    );
}

#[test]
fn errno_ret_is_what_the_call_returns() {
    let c = with_filter(
        "sc-enosys",
        "mkdir /tmp/x",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
    );
    let out = c.run_fg();
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("Function not implemented"),
        "{}",
        out.describe()
    );
}

#[test]
fn default_errno_ret_applies_to_the_default_action() {
    // Everything is refused with EACCES (13) except what sh and mkdir need.
    let allowed = BUSYBOX_NEEDS
        .iter()
        .filter(|n| !n.starts_with("mkdir"))
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(",");
    let c = with_filter(
        "sc-deferrno",
        "mkdir /tmp/x",
        &format!(
            r#"{{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":13,"syscalls":[{{"names":[{allowed}],"action":"SCMP_ACT_ALLOW"}}]}}"#
        ),
    );
    let out = c.run_fg();
    assert!(
        out.stderr.contains("Permission denied"),
        "{}",
        out.describe()
    );
}

/// `kill -N 99999` for N in 5, 10, 15: allowed ones find no such process,
/// filtered ones get EACCES. Each operator compares the signal (argument 1).
#[test]
fn every_operator_compares_the_argument() {
    let cases = [
        ("SCMP_CMP_NE", "10", [true, false, true]),
        ("SCMP_CMP_LT", "10", [true, false, false]),
        ("SCMP_CMP_LE", "10", [true, true, false]),
        ("SCMP_CMP_EQ", "10", [false, true, false]),
        ("SCMP_CMP_GE", "10", [false, true, true]),
        ("SCMP_CMP_GT", "10", [false, false, true]),
        // (signal & 8) == 8: 5 is 0101, 10 is 1010, 15 is 1111.
        (
            "SCMP_CMP_MASKED_EQ",
            "8,\"valueTwo\":8",
            [false, true, true],
        ),
    ];
    for (op, value, filtered) in cases {
        let c = with_filter(
            "sc-op",
            "for s in 5 10 15; do kill -$s 99999 2>&1; done; true",
            &format!(
                r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["kill"],"action":"SCMP_ACT_ERRNO","errnoRet":13,"args":[{{"index":1,"value":{value},"op":"{op}"}}]}}]}}"#
            ),
        );
        let out = c.run_fg();
        out.assert_ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 3, "{op}: {}", out.describe());
        for (line, f) in lines.iter().zip(filtered) {
            let want = if f {
                "Permission denied"
            } else {
                "No such process"
            };
            assert!(line.contains(want), "{op}: {line:?} should say {want:?}");
        }
    }
}

#[test]
fn kill_process_kills_with_sigsys() {
    let mut c = with_filter(
        "sc-kill",
        "unused",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_KILL_PROCESS"}]}"#,
    );
    // The applet itself is the container's process, so its death is the exit status.
    c.spec.args = vec!["mkdir".into(), "/tmp/x".into()];
    let out = c.run_fg();
    assert_eq!(out.code(), Some(128 + 31), "{}", out.describe());
}

#[test]
fn unknown_syscall_names_are_skipped() {
    let c = with_filter(
        "sc-unknown",
        "echo ran",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["no_such_syscall_anywhere","kexec_load"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    let out = c.run_fg();
    out.assert_ok();
    assert!(out.stdout.contains("ran"), "{}", out.describe());
}

#[test]
fn trap_and_log_actions_load() {
    let c = with_filter(
        "sc-trap",
        "echo ran",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls":[{"names":["kexec_load"],"action":"SCMP_ACT_TRAP"},
                        {"names":["acct"],"action":"SCMP_ACT_LOG"},
                        {"names":["kexec_file_load"],"action":"SCMP_ACT_TRACE","errnoRet":7},
                        {"names":["reboot"],"action":"SCMP_ACT_KILL"},
                        {"names":["swapon"],"action":"SCMP_ACT_KILL_THREAD"}]}"#,
    );
    let out = c.run_fg();
    out.assert_ok();
    assert!(out.stdout.contains("ran"), "{}", out.describe());
}

/// What busybox's sh and its applets call, by name, on x86_64.
const BUSYBOX_NEEDS: &[&str] = &[
    "access",
    "arch_prctl",
    "brk",
    "capget",
    "capset",
    "chdir",
    "clock_gettime",
    "clock_nanosleep",
    "close",
    "close_range",
    "dup",
    "dup2",
    "dup3",
    "execve",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fchdir",
    "fcntl",
    "fork",
    "fstat",
    "futex",
    "getcwd",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getrandom",
    "getuid",
    "ioctl",
    "kill",
    "lseek",
    "lstat",
    "mkdir",
    "mkdirat",
    "mmap",
    "mprotect",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "pipe",
    "pipe2",
    "poll",
    "prctl",
    "pread64",
    "prlimit64",
    "read",
    "readlink",
    "readlinkat",
    "rseq",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sendmsg",
    "set_robust_list",
    "set_tid_address",
    "setpgid",
    "setresgid",
    "setresuid",
    "sigaltstack",
    "stat",
    "statx",
    "sysinfo",
    "tgkill",
    "umask",
    "uname",
    "vfork",
    "wait4",
    "write",
    "writev",
];

/// A Docker-style profile as Docker writes it into config.json: default
/// ERRNO(EPERM), x86 ABIs, an allow list in `names` arrays, argument rules
/// on personality and clone, clone3 answered with ENOSYS, names newer than
/// libseccomp 2.5; and noNewPrivileges false, as Docker runs by default.
#[test]
fn docker_default_profile_loads() {
    let mut allow: Vec<&str> = BUSYBOX_NEEDS.to_vec();
    allow.extend([
        "accept",
        "accept4",
        "bind",
        "cachestat",
        "connect",
        "epoll_create1",
        "epoll_ctl",
        "epoll_pwait",
        "epoll_wait",
        "eventfd2",
        "fadvise64",
        "fchmod",
        "fchmodat",
        "fchown",
        "fchownat",
        "fsync",
        "ftruncate",
        "futex_waitv",
        "getsockname",
        "getsockopt",
        "landlock_create_ruleset",
        "link",
        "linkat",
        "listen",
        "madvise",
        "map_shadow_stack",
        "memfd_create",
        "memfd_secret",
        "mremap",
        "recvfrom",
        "recvmsg",
        "rename",
        "renameat2",
        "rmdir",
        "sched_getaffinity",
        "sched_yield",
        "sendto",
        "setsockopt",
        "socket",
        "socketpair",
        "symlink",
        "symlinkat",
        "truncate",
        "unlink",
        "unlinkat",
        "utimensat",
    ]);
    let names = allow
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(",");
    let profile = format!(
        r#"{{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {{"names": [{names}], "action": "SCMP_ACT_ALLOW"}},
            {{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
              "args": [{{"index": 0, "value": 0, "valueTwo": 0, "op": "SCMP_CMP_EQ"}}]}},
            {{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
              "args": [{{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}}]}},
            {{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
              "args": [{{"index": 0, "value": 4294967295, "valueTwo": 0, "op": "SCMP_CMP_EQ"}}]}},
            {{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
              "args": [{{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}}]}},
            {{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}},
            {{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
              "args": [{{"index": 0, "value": 40, "valueTwo": 0, "op": "SCMP_CMP_EQ"}}]}}
        ]
    }}"#
    );
    let mut c = with_filter(
        "sc-docker",
        "grep -E '^(Seccomp|CapEff|NoNewPrivs):' /proc/self/status; mkdir /tmp/ok && echo mkdir-ok; unshare -m true 2>/dev/null || echo unshare-refused",
        &profile,
    );
    let json = c
        .spec
        .to_json()
        .replace("\"noNewPrivileges\":true", "\"noNewPrivileges\":false");
    c.raw_config = Some(json);
    let out = c.run_fg();
    out.assert_ok();
    let s = &out.stdout;
    assert!(s.contains("Seccomp:\t2"), "{}", out.describe());
    assert!(s.contains("NoNewPrivs:\t0"), "{}", out.describe());
    // CAP_SYS_ADMIN was held to load the filter, then dropped: only the
    // configured AUDIT_WRITE, KILL and NET_BIND_SERVICE remain.
    assert!(
        s.contains("CapEff:\t0000000020000420"),
        "{}",
        out.describe()
    );
    assert!(s.contains("mkdir-ok"), "{}", out.describe());
    assert!(s.contains("unshare-refused"), "{}", out.describe());
}

/// Receive one message and one fd from `sock` (SCM_RIGHTS).
fn recv_with_fd(sock: RawFd) -> (Vec<u8>, Option<OwnedFd>) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut space = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: a zeroed msghdr is valid; the pointers set below outlive recvmsg.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&space);
    // SAFETY: msg describes live buffers.
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    buf.truncate(n as usize);
    let mut fd = None;
    // SAFETY: the kernel filled the control buffer; walk it with the CMSG macros.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let raw = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
                fd = Some(OwnedFd::from_raw_fd(raw));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    (buf, fd)
}

/// A seccomp agent in a thread: it accepts one connection, takes the
/// container process state and the notify fd, and answers every notified
/// mkdir with success without making anything.
#[test]
fn notify_agent_gets_the_fd_and_answers() {
    use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
    use std::os::fd::AsRawFd;

    let mut c = container(
        "sc-notify",
        "mkdir /tmp/x && echo made; [ -d /tmp/x ] && echo exists || echo absent",
    );
    let sock_path = c.dir.join("agent.sock");
    c.spec.linux_extra.push(format!(
        r#""seccomp":{{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":{},"listenerMetadata":"hello agent",
            "syscalls":[{{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY"}}]}}"#,
        js(&sock_path.to_string_lossy())
    ));
    let listener = UnixListener::bind(&sock_path).expect("bind agent socket");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        let (msg, fd) = recv_with_fd(conn.as_raw_fd());
        let fd = fd.expect("an fd came with the state");
        let _ = tx.send(String::from_utf8_lossy(&msg).into_owned());
        let mut answered = 0;
        while let Ok(req) = ScmpNotifReq::receive(fd.as_raw_fd()) {
            let resp = ScmpNotifResp::new_val(req.id, 0, ScmpNotifRespFlags::empty());
            if resp.respond(fd.as_raw_fd()).is_ok() {
                answered += 1;
            }
        }
        let _ = tx.send(format!("answered {answered}"));
    });
    let out = c.run_fg();
    out.assert_ok();
    assert!(
        out.stdout.contains("made") && out.stdout.contains("absent"),
        "the agent's answer (success, nothing made) did not reach mkdir:\n{}",
        out.describe()
    );
    let state = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the agent got the state");
    for want in [
        "\"fds\":[\"seccompFd\"]",
        "\"metadata\":\"hello agent\"",
        "\"ociVersion\"",
        &format!("\"id\":\"{}\"", c.id),
    ] {
        assert!(state.contains(want), "state lacks {want}: {state}");
    }
    assert!(json_field(&state, "pid").is_some_and(|p| p.parse::<i32>().unwrap_or(0) > 1));
    let answered = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
    assert_ne!(answered, "answered 0", "the agent answered nothing");
}

#[test]
fn notify_without_an_agent_fails_create() {
    let mut c = container("sc-noagent", "true");
    let sock_path = c.dir.join("nobody.sock");
    c.spec.linux_extra.push(format!(
        r#""seccomp":{{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":{},
            "syscalls":[{{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}}]}}"#,
        js(&sock_path.to_string_lossy())
    ));
    let out = c.create();
    out.assert_fail();
    out.assert_stderr_contains("listenerPath");
    c.assert_no_traces();
}

/// A config with `bad` in place of a valid value: create fails, the error
/// names `field`, and nothing is left under --root.
#[track_caller]
fn create_fails_naming(name: &str, seccomp: &str, field: &str) {
    let c = with_filter(name, "true", seccomp);
    let out = c.create();
    out.assert_fail();
    out.assert_stderr_contains(field);
    assert!(
        c.root_entries().is_empty(),
        "left under --root: {:?}",
        c.root_entries()
    );
    c.assert_no_traces();
}

#[test]
fn unknown_action_is_named() {
    create_fails_naming(
        "sc-badact",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["a"],"action":"SCMP_ACT_ALLOW"},{"names":["b"],"action":"SCMP_ACT_ALLOW"},
            {"names":["c"],"action":"SCMP_ACT_ALLOW"},{"names":["mkdir"],"action":"SCMP_ACT_EXPLODE"}]}"#,
        "linux.seccomp.syscalls[3].action",
    );
}

#[test]
fn unknown_default_action_is_named() {
    create_fails_naming(
        "sc-baddef",
        r#"{"defaultAction":"SCMP_ACT_MAYBE"}"#,
        "linux.seccomp.defaultAction",
    );
}

#[test]
fn unknown_arch_is_named() {
    create_fails_naming(
        "sc-badarch",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_PDP11"]}"#,
        "linux.seccomp.architectures[1]",
    );
}

#[test]
fn unknown_operator_is_named() {
    create_fails_naming(
        "sc-badop",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ERRNO",
            "args":[{"index":1,"value":9,"op":"SCMP_CMP_EQ"},{"index":0,"value":1,"op":"SCMP_CMP_ABOUT"}]}]}"#,
        "linux.seccomp.syscalls[0].args[1].op",
    );
}

#[test]
fn unknown_flag_is_named() {
    create_fails_naming(
        "sc-badflag",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_FAST"]}"#,
        "linux.seccomp.flags[1]",
    );
}

#[test]
fn errno_on_allow_is_named() {
    create_fails_naming(
        "sc-errnoallow",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"},
            {"names":["rmdir"],"action":"SCMP_ACT_ALLOW","errnoRet":1}]}"#,
        "linux.seccomp.syscalls[1].errnoRet",
    );
}

#[test]
fn argument_index_out_of_range_is_named() {
    create_fails_naming(
        "sc-badidx",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ERRNO",
            "args":[{"index":7,"value":9,"op":"SCMP_CMP_EQ"}]}]}"#,
        "linux.seccomp.syscalls[0].args[0].index",
    );
}

#[test]
fn load_is_narrated() {
    let c = with_filter(
        "sc-explain",
        "true",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["kexec_load"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    c.write_config_now();
    let log = c.dir.join("explain.txt");
    let b = c.bundle_str();
    let out = c.rt(&[
        "--explain",
        "--explain-file",
        &log.to_string_lossy(),
        "run",
        "--bundle",
        &b,
        &c.id,
    ]);
    out.assert_ok();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("seccomp (SECCOMP_SET_MODE_FILTER"),
        "no seccomp step in the narration:\n{text}"
    );
}

#[test]
fn exec_processes_are_filtered_too() {
    let mut c = with_filter(
        "sc-exec",
        "sleep 1000",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
    );
    c.spec.args = vec!["sleep".into(), "1000".into()];
    c.create_and_start();
    let out = c.rt(&[
        "exec",
        &c.id,
        "sh",
        "-c",
        "grep '^Seccomp:' /proc/self/status; mkdir /tmp/x",
    ]);
    assert!(out.stdout.contains("Seccomp:\t2"), "{}", out.describe());
    assert!(
        out.stderr.contains("Function not implemented"),
        "{}",
        out.describe()
    );
}
