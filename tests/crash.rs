//! Crash safety and concurrency.
//!
//! * SIGKILL of `create`, `run`, `exec` and `delete --force` at spread-out
//!   instants across their whole work (and past it), then `delete --force`,
//!   then a census of the host: no state entry (nor `.<id>.*` temporary
//!   directory), no mount, no process carrying the container's marker, id
//!   or cgroup, no fifo or socket. Each test reports the rounds that
//!   leaked; the target is zero.
//! * SIGKILL of `create` while a createRuntime hook runs: the hook dies too.
//! * The leftover of a delete killed while removing the state directory
//!   (a directory without its record): `delete --force` clears it.
//! * `state` and `list` of a half-made container: `creating` or `stopped`,
//!   never `created` unless the container really is complete.
//! * A parallel stress test (hundreds of lifecycles from many workers) with
//!   a census before and after: host mounts, state entries, marked
//!   processes, zombie children and open descriptors of this process.
//! * Races on one id: two creates, create against `delete --force`, start
//!   against `delete --force`, two `delete --force`.
//!
//! The tests in this file take one lock each, so they run one at a time:
//! the kill instants are measured against a baseline taken on an otherwise
//! idle runtime, and the stress census counts this process's descriptors,
//! which a concurrent test would change.
//!
//! Kill delays are deterministic: a measured baseline scaled by a fixed
//! low-discrepancy sequence, denser early (setup steps are short).

mod common;

use common::*;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Rounds per kill test.
const ROUNDS: usize = 30;

/// One test at a time in this file (see the module comment).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// `n` kill delays from 0 to 1.5 x `base` (+2 ms): stratified points with
/// a golden-ratio offset in each stratum, squared so that half the rounds
/// fall in the first quarter of the span, where setup steps are dense.
fn kill_delays(base: Duration, n: usize) -> Vec<Duration> {
    let top = base.as_secs_f64() * 1.5 + 0.002;
    (0..n)
        .map(|i| {
            let jitter = ((i as f64 + 1.0) * 0.618_033_988_749_895).fract();
            let u = (i as f64 + jitter) / n as f64;
            Duration::from_secs_f64(top * u * u)
        })
        .collect()
}

/// Run the runtime with `args` (`c`'s --root) to its end, timed precisely
/// (a blocking wait: `Out::elapsed` is rounded up to the harness's 5 ms
/// polling step, too coarse for kill instants).
fn timed(c: &Container, args: &[&str]) -> Duration {
    let (mut cmd, _, e) = c.command(args);
    let t = Instant::now();
    let st = cmd.spawn().expect("spawn the runtime").wait().unwrap();
    let took = t.elapsed();
    assert!(
        st.success(),
        "baseline `{}` failed: {:?}",
        args.join(" "),
        std::fs::read_to_string(e).unwrap_or_default()
    );
    took
}

/// Median of three timings of `f`.
fn median3(mut f: impl FnMut() -> Duration) -> Duration {
    let mut v = [f(), f(), f()];
    v.sort();
    v[1]
}

/// Start `args` (the runtime, with `c`'s --root), SIGKILL it after `delay`
/// unless it ended first, and reap it.
fn spawn_and_kill(c: &Container, args: &[&str], delay: Duration) -> ExitStatus {
    let (mut cmd, _, _) = c.command(args);
    let mut child = cmd.spawn().expect("spawn the runtime");
    std::thread::sleep(delay);
    let _ = child.kill(); // SIGKILL; harmless if it already exited
    child.wait().expect("reap the runtime")
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Everything `c` left on the host, as readable lines (empty: nothing).
/// Processes get two seconds to finish dying (a SIGKILL and a reaping by
/// the host's init are not instantaneous).
fn traces(c: &Container) -> Vec<String> {
    let mut out = vec![];
    let mut procs = vec![];
    wait_until(Duration::from_secs(2), || {
        procs = c.leaked_processes();
        procs.extend(processes_in_cgroups_matching(&c.id));
        procs.is_empty()
    });
    for (pid, why) in procs {
        out.push(format!("process {pid}: {why}"));
    }
    // Entries of this id in the state root, temporary `.<id>.*` ones too.
    for e in c.root_entries_for_id() {
        out.push(format!("state entry {}/{e}", c.root.display()));
    }
    for m in host_mounts_matching(&c.dir.to_string_lossy()) {
        out.push(format!("mount {m}"));
    }
    for m in host_mounts_matching(&c.id) {
        if !m.contains(&*c.dir.to_string_lossy()) {
            out.push(format!("mount {m}"));
        }
    }
    out.extend(fifos_and_sockets_under(&c.dir));
    if c.root.parent() != Some(c.dir.as_path()) {
        // A shared --root: look there too.
        out.extend(
            fifos_and_sockets_under(&c.root)
                .into_iter()
                .filter(|f| f.contains(&c.id)),
        );
    }
    for d in cgroup_dirs_matching(&c.id) {
        out.push(format!("cgroup {d}"));
    }
    out
}

/// Fail with every leaking round listed.
#[track_caller]
fn assert_no_leaks(what: &str, rounds: usize, leaks: &[String], note: &str) {
    assert!(
        leaks.is_empty(),
        "{what}: {} of {rounds} rounds leaked ({note}):\n  {}",
        leaks.len(),
        leaks.join("\n  ")
    );
}

/// The status `list --format json` reports for `c` (None: not listed).
fn listed_status(c: &Container) -> Result<Option<String>, String> {
    let o = c.rt(&["list", "--format", "json"]);
    if !o.ok() {
        return Err(format!("list failed:\n{}", o.describe()));
    }
    if !o.stdout.contains(&js(&c.id)) {
        return Ok(None);
    }
    Ok(json_field(&o.stdout, "status"))
}

// ---------------------------------------------------------------------------
// SIGKILL at many points
// ---------------------------------------------------------------------------

/// Time a normal `create` (plus delete).
fn baseline_create() -> Duration {
    median3(|| {
        let c = Container::new_linked("crash_baseline");
        c.write_config_now();
        let b = c.bundle_str();
        let took = timed(&c, &["create", "--bundle", &b, &c.id]);
        c.delete(true).assert_ok();
        took
    })
}

#[test]
fn sigkill_create_at_many_points_leaves_nothing() {
    let _g = serial();
    let t0 = Instant::now();
    let base = baseline_create();
    let delays = kill_delays(base, ROUNDS);
    let mut leaks = vec![];
    let mut finished = 0;
    for (round, delay) in delays.iter().enumerate() {
        let c = Container::with_args_linked(
            &format!("crash_r{round}"),
            &["sh", "-c", "sleep 1000; echo PKROUND"],
        );
        c.write_config_now();
        let b = c.bundle_str();
        let (done, leak) = kill_round(
            &c,
            "create",
            &["create", "--bundle", &b, &c.id],
            round,
            *delay,
        );
        finished += usize::from(done);
        leaks.extend(leak);
        // Drop kills leftovers so later rounds start clean.
    }
    eprintln!(
        "create: {ROUNDS} rounds, kills 0..{} (baseline {}), {finished} finished first, {} leaked, {:?}",
        ms(*delays.iter().max().unwrap()),
        ms(base),
        leaks.len(),
        t0.elapsed()
    );
    assert_no_leaks(
        "SIGKILL of create",
        ROUNDS,
        &leaks,
        &format!(
            "baseline create {}, {finished} creates finished before the kill",
            ms(base)
        ),
    );
}

/// One round: run the runtime with `args`, SIGKILL it after `delay`, then
/// `delete --force` and look for traces. Returns whether the command had
/// finished first, and a description of what leaked, if anything.
fn kill_round(
    c: &Container,
    what: &str,
    args: &[&str],
    round: usize,
    delay: Duration,
) -> (bool, Option<String>) {
    let st = spawn_and_kill(c, args, delay);
    let d = c.delete(true);
    let mut t = traces(c);
    if !d.ok() {
        t.push(format!("delete --force failed:\n{}", d.describe()));
    }
    let leak = (!t.is_empty()).then(|| {
        format!(
            "round {round} (kill after {}, {what} {}):\n    {}",
            ms(delay),
            if st.success() {
                "had finished"
            } else {
                "killed"
            },
            t.join("\n    ")
        )
    });
    (st.success(), leak)
}

/// A foreground `run` whose program lives a little while, so that kills
/// land in create, in start, while `run` waits on the program, and while
/// it deletes the container afterwards.
const RUN_PROGRAM: &[&str] = &["sh", "-c", "echo PKRUN; sleep 0.05"];

#[test]
fn sigkill_run_at_many_points_leaves_nothing() {
    let _g = serial();
    let t0 = Instant::now();
    let base = median3(|| {
        let c = Container::with_args_linked("crash_run_base", RUN_PROGRAM);
        c.write_config_now();
        let b = c.bundle_str();
        let took = timed(&c, &["run", "--bundle", &b, &c.id]);
        assert!(
            c.root_entries().is_empty(),
            "run left {:?}",
            c.root_entries()
        );
        took
    });
    let delays = kill_delays(base, ROUNDS);
    let mut leaks = vec![];
    let mut finished = 0;
    for (round, delay) in delays.iter().enumerate() {
        let c = Container::with_args_linked(&format!("crash_run{round}"), RUN_PROGRAM);
        c.write_config_now();
        let b = c.bundle_str();
        let (done, leak) = kill_round(&c, "run", &["run", "--bundle", &b, &c.id], round, *delay);
        finished += usize::from(done);
        leaks.extend(leak);
    }
    eprintln!(
        "run: {ROUNDS} rounds, kills 0..{} (baseline {}), {finished} finished first, {} leaked, {:?}",
        ms(*delays.iter().max().unwrap()),
        ms(base),
        leaks.len(),
        t0.elapsed()
    );
    assert_no_leaks(
        "SIGKILL of run",
        ROUNDS,
        &leaks,
        &format!(
            "baseline run {}, {finished} runs finished before the kill",
            ms(base)
        ),
    );
}

/// Kill a foreground `exec` across its setup (a baseline `exec ... true`
/// times it) and past it, while it waits on its program. The container
/// must stay running and usable; after `delete --force` no exec'd process
/// may remain.
///
/// Deletion is deferred and done for all rounds at once: an exec'd process
/// that outlives its `exec` is reparented to the host's init, and the
/// container's init (its pid namespace's reaper) is only gone once the
/// host's init has reaped it, which some hosts do lazily (seconds).
#[test]
fn sigkill_exec_at_many_points_leaves_nothing_after_delete() {
    let _g = serial();
    let t0 = Instant::now();
    let base = {
        let c = Container::new_linked("crash_exec_base");
        c.create_and_start();
        median3(|| timed(&c, &["exec", &c.id, "true"]))
    };
    let delays = kill_delays(base, ROUNDS);
    let mut leaks = vec![];
    let mut held = vec![];
    let mut finished = 0;
    let mut survivors = 0;
    for (round, delay) in delays.iter().enumerate() {
        let c = Container::new_linked(&format!("crash_exec{round}"));
        let init = c.create_and_start();
        let exec_mark = format!("{}_EXEC", c.marker);
        let env = format!("PKEXEC={exec_mark}");
        let st = spawn_and_kill(&c, &["exec", "--env", &env, &c.id, "sleep", "1000"], *delay);
        if st.success() {
            finished += 1;
        }
        let mut t = vec![];
        // The container is untouched: running, same init, no leftovers of
        // the exec in its state directory, still open to exec.
        let s = c.state();
        let status = json_field(&s.stdout, "status");
        let pid = json_field(&s.stdout, "pid").and_then(|p| p.parse::<i32>().ok());
        if !s.ok() || status.as_deref() != Some("running") || pid != Some(init) {
            t.push(format!(
                "container not running with init {init} after the kill:\n{}",
                s.describe()
            ));
        }
        let entries = c.root_entries();
        if entries != [c.id.clone()] {
            t.push(format!("state root holds {entries:?}"));
        }
        let mut inner: Vec<String> = std::fs::read_dir(c.root.join(&c.id))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        inner.sort();
        if inner != ["state.json"] {
            t.push(format!("state directory holds {inner:?}"));
        }
        let e = c.rt(&["exec", &c.id, "true"]);
        if !e.ok() {
            t.push(format!("a later exec failed:\n{}", e.describe()));
        }
        if !processes_matching(&[&exec_mark], &[]).is_empty() {
            survivors += 1;
        }
        if !t.is_empty() {
            leaks.push(format!(
                "round {round} (kill after {}, exec {}), before delete:\n    {}",
                ms(*delay),
                if st.success() {
                    "had finished"
                } else {
                    "killed"
                },
                t.join("\n    ")
            ));
        }
        held.push((round, *delay, exec_mark, c));
    }
    // Delete every container at once and take the census of each.
    let handles: Vec<_> = held
        .into_iter()
        .map(|(round, delay, exec_mark, c)| {
            std::thread::spawn(move || {
                let d = c.delete(true);
                let mut t = traces(&c);
                let execd = processes_matching(&[&exec_mark], &[]);
                if !execd.is_empty() {
                    t.push(format!("exec'd processes remain: {execd:?}"));
                }
                if !d.ok() {
                    t.push(format!("delete --force failed:\n{}", d.describe()));
                }
                if c.state().ok() {
                    t.push("state still succeeds after delete --force".into());
                }
                (round, delay, t, c)
            })
        })
        .collect();
    for h in handles {
        let (round, delay, t, c) = h.join().expect("delete thread");
        if !t.is_empty() {
            leaks.push(format!(
                "round {round} (kill after {}), after delete --force:\n    {}",
                ms(delay),
                t.join("\n    ")
            ));
        }
        drop(c);
    }
    eprintln!(
        "exec: {ROUNDS} rounds, kills 0..{} (baseline {}), {finished} finished first, {survivors} exec'd processes outlived their exec, {} leaked, {:?}",
        ms(*delays.iter().max().unwrap()),
        ms(base),
        leaks.len(),
        t0.elapsed()
    );
    assert_no_leaks(
        "SIGKILL of exec",
        ROUNDS,
        &leaks,
        &format!("baseline exec {}", ms(base)),
    );
}

/// Kill `delete --force` of a running container across its work (killing
/// the init, waiting for it, removing the state directory) and past it;
/// a second `delete --force` must finish the job, and the id must be
/// usable again.
#[test]
fn sigkill_delete_at_many_points_then_delete_force_leaves_nothing() {
    let _g = serial();
    let t0 = Instant::now();
    let base = median3(|| {
        let c = Container::new_linked("crash_del_base");
        c.create_and_start();
        timed(&c, &["delete", "--force", &c.id])
    });
    let delays = kill_delays(base, ROUNDS);
    let mut leaks = vec![];
    let mut finished = 0;
    for (round, delay) in delays.iter().enumerate() {
        let c = Container::new_linked(&format!("crash_del{round}"));
        c.create_and_start();
        let st = spawn_and_kill(&c, &["delete", "--force", &c.id], *delay);
        if st.success() {
            finished += 1;
        }
        let left_by_kill = c.root_entries();
        let d = c.delete(true);
        let mut t = traces(&c);
        if !d.ok() {
            t.push(format!("delete --force failed:\n{}", d.describe()));
        }
        let again = c.create();
        if !again.ok() {
            t.push(format!("the id is not reusable:\n{}", again.describe()));
        }
        c.delete(true);
        if !t.is_empty() {
            leaks.push(format!(
                "round {round} (kill after {}, first delete {}; state root after the kill: {left_by_kill:?}):\n    {}",
                ms(*delay),
                if st.success() { "had finished" } else { "killed" },
                t.join("\n    ")
            ));
        }
    }
    eprintln!(
        "delete: {ROUNDS} rounds, kills 0..{} (baseline {}), {finished} finished first, {} leaked, {:?}",
        ms(*delays.iter().max().unwrap()),
        ms(base),
        leaks.len(),
        t0.elapsed()
    );
    assert_no_leaks(
        "SIGKILL of delete --force",
        ROUNDS,
        &leaks,
        &format!("baseline delete --force {}", ms(base)),
    );
}

/// What a runtime killed inside the last step of a delete (removing the
/// state directory, `state.json` first or not) leaves: the container's
/// directory without its record, the init already dead and its cgroup
/// already removed (delete removes it before the state). A kill that lands
/// there is rare (the window is microseconds; the run test above hits it
/// now and then), so the leftover is made here directly. `delete --force`
/// must remove it, and the id must be usable again.
#[test]
fn delete_force_clears_a_state_dir_whose_removal_was_cut_short() {
    let _g = serial();
    let mut bad = vec![];
    for (n, keep_fifo) in [false, true].into_iter().enumerate() {
        let c = Container::new_linked(&format!("crash_cut{n}"));
        c.create().assert_ok(); // created: exec.fifo exists
        let init = c.pid();
        send_signal(init, SIGKILL);
        wait_until(SHORT, || c.leaked_processes().is_empty());
        for d in cgroup_dirs_matching(&c.id) {
            wait_until(SHORT, || std::fs::remove_dir(&d).is_ok());
        }
        let dir = c.root.join(&c.id);
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if !(keep_fifo && e.file_name() == "exec.fifo") {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        left.sort();
        let d = c.delete(true);
        let mut p = vec![];
        if !d.ok() {
            p.push(format!("delete --force failed:\n{}", d.describe()));
        }
        p.extend(traces(&c));
        let again = c.create();
        if !again.ok() {
            p.push(format!(
                "create of the same id then fails:\n{}",
                again.describe()
            ));
        }
        if !p.is_empty() {
            bad.push(format!(
                "{}/{} holding {left:?}, init {init} dead, then `delete --force {}` (exit {:?}):\n    {}",
                c.root.display(),
                c.id,
                c.id,
                d.code(),
                p.join("\n    ")
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of 2 cases wrong:\n  {}",
        bad.len(),
        bad.join("\n  ")
    );
}

/// A createRuntime hook with the hook marker in its environment.
fn hook_json(path: &str, args: &[&str], mark: &str) -> String {
    format!(
        "{{\"path\":{},\"args\":{},\"env\":[\"PATH=/usr/sbin:/usr/bin:/sbin:/bin\",{}],\"timeout\":120}}",
        js(path),
        js_arr(args),
        js(&format!("PKHOOK={mark}"))
    )
}

/// "pid "cmdline" (comm, parent ppid)" for each process.
fn describe_procs(v: &[(i32, String)]) -> String {
    let d: Vec<String> = v
        .iter()
        .map(|(pid, _)| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let ppid = stat_state_ppid(*pid).1.unwrap_or(0);
            format!(
                "{pid} {:?} ({}, parent {ppid})",
                cmdline.trim(),
                comm.trim()
            )
        })
        .collect();
    format!("[{}]", d.join(", "))
}

/// Start `create` with a hook `(path, args)` that sleeps, wait until the
/// hook runs, check `state`/`list` say `creating`, SIGKILL create after
/// `delay`, and return what is wrong.
fn kill_create_in_hook(name: &str, path: &str, args: &[&str], delay: Duration) -> Vec<String> {
    let mut c = Container::new_linked(name);
    let mark = format!("{}_HOOK", c.marker);
    c.spec
        .hooks
        .push(("createRuntime".into(), hook_json(path, args, &mark)));
    c.write_config_now();
    let b = c.bundle_str();
    let (mut cmd, _, err) = c.command(&["create", "--bundle", &b, &c.id]);
    let mut child = cmd.spawn().expect("spawn create");
    let mut problems = vec![];
    // Wait for the hook's sleep itself (a script's own child, if any).
    let hook_up = wait_until(Duration::from_secs(10), || {
        processes_matching(&[&mark], &[]).iter().any(|(pid, _)| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
        }) || !matches!(child.try_wait(), Ok(None))
    });
    if !hook_up || !matches!(child.try_wait(), Ok(None)) {
        let _ = child.kill();
        let _ = child.wait();
        return vec![format!(
            "the hook never ran; create stderr: {:?}",
            std::fs::read_to_string(err).unwrap_or_default()
        )];
    }
    // Half-made, held in the hook: creating, in state and in list.
    let s = c.state();
    let status = json_field(&s.stdout, "status");
    if status.as_deref() != Some("creating") {
        problems.push(format!("state during the hook: {}", s.describe()));
    }
    match listed_status(&c) {
        Ok(Some(l)) if l == "creating" => {}
        other => problems.push(format!("list during the hook: {other:?}")),
    }
    let hooks_before = describe_procs(&processes_matching(&[&mark], &[]));
    std::thread::sleep(delay);
    let _ = child.kill();
    let _ = child.wait();
    // The hook itself dies with the runtime, before anyone deletes anything.
    // What a hook script started in turn is not the runtime's child: it is
    // found and killed by `delete --force`, through the hook's process group
    // on record (checked by `traces` below).
    let hook_comm = args[0];
    let mut left = vec![];
    let gone = wait_until(Duration::from_millis(1500), || {
        left = processes_matching(&[&mark], &[])
            .into_iter()
            .filter(|(pid, _)| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == hook_comm)
            })
            .collect();
        left.is_empty()
    });
    if !gone {
        problems.push(format!(
            "the hook outlived the killed create: {} (hook processes while create ran: {hooks_before})",
            describe_procs(&left)
        ));
    }
    // Killed half-made: creating or stopped, never created.
    let s = c.state();
    if let Some(st) = json_field(&s.stdout, "status") {
        if st != "creating" && st != "stopped" {
            problems.push(format!("state after the kill: {}", s.describe()));
        }
    }
    let d = c.delete(true);
    if !d.ok() {
        problems.push(format!("delete --force failed:\n{}", d.describe()));
    }
    problems.extend(traces(&c));
    if !problems.is_empty() {
        problems.insert(0, format!("{name}, kill {} into the hook:", ms(delay)));
    }
    problems
}

#[test]
fn sigkill_create_during_create_runtime_hook_kills_the_hook() {
    let _g = serial();
    let mut leaks = vec![];
    let rounds = 5;
    for r in 0..rounds {
        let delay = Duration::from_millis([0, 1, 3, 10, 30][r]);
        let p = kill_create_in_hook(
            &format!("crash_hook{r}"),
            "/bin/sleep",
            &["sleep", "60"],
            delay,
        );
        if !p.is_empty() {
            leaks.push(p.join("\n    "));
        }
    }
    assert_no_leaks(
        "SIGKILL of create in a sleeping hook",
        rounds,
        &leaks,
        "hook is /bin/sleep",
    );
}

/// The same, with the hook a shell script whose `sleep` is its child, as
/// many real hooks are scripts that run other programs: the script dies
/// with the runtime (PR_SET_PDEATHSIG), but that signal is not passed on
/// to the script's own children.
#[test]
fn sigkill_create_during_hook_script_kills_the_scripts_children() {
    let _g = serial();
    let mut leaks = vec![];
    let rounds = 2;
    for r in 0..rounds {
        let delay = Duration::from_millis([0, 20][r]);
        let p = kill_create_in_hook(
            &format!("crash_hooksh{r}"),
            "/bin/sh",
            &["sh", "-c", "sleep 60; exit 0"],
            delay,
        );
        if !p.is_empty() {
            leaks.push(p.join("\n    "));
        }
    }
    assert_no_leaks(
        "SIGKILL of create in a hook script",
        rounds,
        &leaks,
        "hook is `sh -c 'sleep 60; exit 0'`",
    );
}

// ---------------------------------------------------------------------------
// state / list of a half-made container
// ---------------------------------------------------------------------------

#[test]
fn sigkill_create_then_state_is_consistent() {
    let _g = serial();
    // After a killed create, `state` and `list` either do not know the id
    // or say `creating`/`stopped`; `created` only if the container really
    // is complete (the kill came after the record said so): then `start`
    // works and the program runs. Never `running`.
    let base = baseline_create();
    let delays = kill_delays(base, 12);
    let mut bad = vec![];
    let mut seen: Vec<String> = vec![];
    for (round, delay) in delays.iter().enumerate() {
        let c = Container::with_args_linked(
            &format!("crash_state{round}"),
            &["sh", "-c", "echo $PUNCKER_TEST_MARKER; sleep 1000"],
        );
        c.write_config_now();
        let b = c.bundle_str();
        let (mut cmd, out, err) = c.command(&["create", "--bundle", &b, &c.id]);
        let mut child = cmd.spawn().expect("spawn create");
        std::thread::sleep(*delay);
        let _ = child.kill();
        let finished = child.wait().unwrap().success();
        let mut p = vec![];
        let s = c.state();
        let status = if s.ok() {
            json_field(&s.stdout, "status")
        } else {
            None
        };
        seen.push(format!(
            "{}:{}",
            ms(*delay),
            status.as_deref().unwrap_or("-")
        ));
        let listed = listed_status(&c);
        match (&listed, &status) {
            (Err(e), _) => p.push(e.clone()),
            (Ok(Some(l)), _) if !["creating", "created", "stopped"].contains(&l.as_str()) => {
                p.push(format!("list says {l:?}"))
            }
            (Ok(Some(l)), _) if l == "created" && status.as_deref() != Some("created") => {
                p.push(format!("list says created, state says {status:?}"))
            }
            _ => {}
        }
        match status.as_deref() {
            None if finished => p.push(format!(
                "create finished but state fails:\n{}",
                s.describe()
            )),
            None | Some("creating") | Some("stopped") if !finished => {}
            Some("created") => {
                // Claimed complete: it must start and run its program.
                let st = c.start();
                let ran = st.ok()
                    && wait_until(Duration::from_secs(5), || {
                        std::fs::read_to_string(&out)
                            .unwrap_or_default()
                            .contains(&c.marker)
                    });
                if !ran {
                    p.push(format!(
                        "state said created (create {}), but start/program failed:\n{}\n  create stderr: {:?}",
                        if finished { "finished" } else { "killed" },
                        st.describe(),
                        std::fs::read_to_string(&err).unwrap_or_default()
                    ));
                }
            }
            _ => p.push(format!(
                "bogus state after a {} create:\n{}",
                if finished { "finished" } else { "killed" },
                s.describe()
            )),
        }
        let d = c.delete(true);
        if !d.ok() {
            p.push(format!("delete --force failed:\n{}", d.describe()));
        }
        if c.state().ok() {
            p.push("state still succeeds after delete --force".into());
        }
        p.extend(traces(&c));
        // The id is reusable afterwards.
        let o = c.create();
        if !o.ok() {
            p.push(format!("create again failed:\n{}", o.describe()));
        } else if c.status() != "created" {
            p.push(format!("create again: status {}", c.status()));
        }
        if !p.is_empty() {
            bad.push(format!(
                "round {round} (kill after {}):\n    {}",
                ms(*delay),
                p.join("\n    ")
            ));
        }
    }
    eprintln!(
        "state after killed create (delay:status): {}",
        seen.join(" ")
    );
    assert!(
        bad.is_empty(),
        "{} of {} rounds inconsistent (baseline create {}):\n  {}",
        bad.len(),
        delays.len(),
        ms(base),
        bad.join("\n  ")
    );
}

// ---------------------------------------------------------------------------
// Parallel stress with a census
// ---------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
struct Census {
    mounts: Vec<String>,
    state_entries: Vec<String>,
    processes: Vec<String>,
    zombies: Vec<String>,
    fds: Vec<String>,
}

fn census(root: &std::path::Path, marker_prefix: &str) -> Census {
    let mut state_entries: Vec<String> = std::fs::read_dir(root)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    state_entries.sort();
    let mut processes: Vec<String> = processes_matching(&[marker_prefix], &[])
        .into_iter()
        .map(|(p, w)| format!("{p}: {w}"))
        .collect();
    processes.sort();
    Census {
        mounts: host_mounts_matching(&base_dir().to_string_lossy()),
        state_entries,
        processes,
        zombies: zombie_children_of_self(),
        fds: open_fds_of_self(),
    }
}

/// One lifecycle of kind `kind`; Err describes what went wrong.
fn lifecycle(kind: usize, c: &Container) -> Result<(), String> {
    let echo = |o: &Out, what: &str| -> Result<(), String> {
        if o.stdout.trim() != c.marker {
            return Err(format!("{what}: wrong output:\n{}", o.describe()));
        }
        Ok(())
    };
    let ok = |o: Out, what: &str| -> Result<Out, String> {
        if o.ok() {
            Ok(o)
        } else {
            Err(format!(
                "{what}:\n{}\n  create-time stderr: {:?}",
                o.describe(),
                c.container_stderr()
            ))
        }
    };
    let wait_stopped = || {
        wait_until(Duration::from_secs(20), || {
            let s = c.state();
            s.ok() && json_field(&s.stdout, "status").as_deref() == Some("stopped")
        })
    };
    match kind {
        // create, start, the program ends, delete.
        0 => {
            ok(c.create(), "create")?;
            ok(c.start(), "start")?;
            if !wait_stopped() {
                return Err("never stopped".into());
            }
            if c.container_stdout().trim() != c.marker {
                return Err(format!("wrong output {:?}", c.container_stdout()));
            }
            ok(c.delete(false), "delete")?;
        }
        // Foreground run: deletes the container itself.
        1 => {
            let o = ok(c.run_fg(), "run")?;
            echo(&o, "run")?;
        }
        // create, then delete --force without a start.
        2 => {
            ok(c.create(), "create")?;
            ok(c.delete(true), "delete --force")?;
        }
        // run --detach, exec, kill, delete.
        3 => {
            c.write_config_now();
            let b = c.bundle_str();
            ok(c.rt(&["run", "--detach", "--bundle", &b, &c.id]), "run -d")?;
            let o = ok(
                c.rt(&["exec", &c.id, "sh", "-c", "echo $PUNCKER_TEST_MARKER"]),
                "exec",
            )?;
            echo(&o, "exec")?;
            ok(c.kill(Some("KILL")), "kill")?;
            if !wait_stopped() {
                return Err("never stopped after kill".into());
            }
            ok(c.delete(false), "delete")?;
        }
        // create, start, delete --force while it runs.
        _ => {
            ok(c.create(), "create")?;
            ok(c.start(), "start")?;
            ok(c.delete(true), "delete --force")?;
        }
    }
    if !c.root_entries_for_id().is_empty() {
        return Err(format!(
            "state entries remain: {:?}",
            c.root_entries_for_id()
        ));
    }
    if !c.leaked_mounts().is_empty() {
        return Err(format!("mounts remain: {:?}", c.leaked_mounts()));
    }
    Ok(())
}

#[test]
fn parallel_lifecycles() {
    let _g = serial();
    const WORKERS: usize = 8;
    const EACH: usize = 25;
    const KINDS: usize = 5;
    let root = base_dir().join("crash_stress_root");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let marker_prefix = "PKMARK_crash_stress";
    // The harness's one-time setup (the rootfs template) happens first.
    template_rootfs();
    let before = census(&root, marker_prefix);
    let barrier = Arc::new(Barrier::new(WORKERS + 2)); // workers, lister, this thread
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    // A reader lists the shared root all along: list never fails, never
    // shows a temporary entry or a bogus status.
    let lister = {
        let (barrier, done, root) = (barrier.clone(), done.clone(), root.clone());
        std::thread::spawn(move || -> (usize, Vec<String>) {
            let mut c = Container::new_linked("crash_stress_lister");
            c.root = root;
            barrier.wait();
            let (mut n, mut errs) = (0, vec![]);
            while !done.load(Ordering::SeqCst) {
                let o = c.rt(&["list", "--format", "json"]);
                n += 1;
                if !o.ok() {
                    errs.push(format!("list failed:\n{}", o.describe()));
                    continue;
                }
                for s in json_fields(&o.stdout, "status") {
                    if !["creating", "created", "running", "stopped"].contains(&s.as_str()) {
                        errs.push(format!("list shows status {s:?}: {}", o.stdout));
                    }
                }
                for id in json_fields(&o.stdout, "id") {
                    if id.starts_with('.') {
                        errs.push(format!("list shows a temporary entry {id:?}"));
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (n, errs)
        })
    };
    let per_kind: Arc<Vec<AtomicUsize>> =
        Arc::new((0..KINDS).map(|_| AtomicUsize::new(0)).collect());
    let workers: Vec<_> = (0..WORKERS)
        .map(|t| {
            let (barrier, root, per_kind) = (barrier.clone(), root.clone(), per_kind.clone());
            std::thread::spawn(move || -> Vec<String> {
                let mut errs = vec![];
                barrier.wait();
                for r in 0..EACH {
                    let kind = (t + r) % KINDS;
                    let args: &[&str] = match kind {
                        0 | 1 => &["sh", "-c", "echo $PUNCKER_TEST_MARKER"],
                        _ => &["sleep", "1000"],
                    };
                    let mut c = Container::with_args_linked(&format!("crash_stress_{t}_{r}"), args);
                    c.root = root.clone();
                    match lifecycle(kind, &c) {
                        Ok(()) => {
                            per_kind[kind].fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => errs.push(format!("{} (kind {kind}): {e}", c.id)),
                    }
                }
                errs
            })
        })
        .collect();
    barrier.wait();
    let mut errs = vec![];
    for h in workers {
        match h.join() {
            Ok(e) => errs.extend(e),
            Err(_) => errs.push("worker panicked".into()),
        }
    }
    let elapsed = start.elapsed();
    done.store(true, Ordering::SeqCst);
    let (lists, list_errs) = lister.join().expect("lister");
    errs.extend(list_errs);
    let mut after = census(&root, marker_prefix);
    wait_until(Duration::from_secs(3), || {
        after = census(&root, marker_prefix);
        after == before
    });
    let _ = std::fs::remove_dir_all(&root);
    let kinds: Vec<usize> = per_kind.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    eprintln!(
        "stress: {} lifecycles ({WORKERS} workers x {EACH}; per kind ok {kinds:?}) and {lists} lists in {elapsed:?}; {} failures",
        WORKERS * EACH,
        errs.len()
    );
    assert!(
        errs.is_empty(),
        "{} failures:\n  {}",
        errs.len(),
        errs.join("\n  ")
    );
    assert_eq!(
        after,
        before,
        "census (host mounts, state entries, marked processes, zombie children, open fds) differs after {} lifecycles",
        WORKERS * EACH
    );
}

// ---------------------------------------------------------------------------
// Races on one id
// ---------------------------------------------------------------------------

/// Run `a` and `b` (runtime argument lists, with `c`'s --root) at once,
/// `b` delayed by `offset`; return both results.
fn race(c: &Container, a: &[&str], b: &[&str], offset: Duration) -> (Out, Out) {
    let barrier = Arc::new(Barrier::new(2));
    let go = |args: &[&str], pause: Duration, barrier: Arc<Barrier>| {
        let (mut cmd, o, e) = c.command(args);
        let what = args.join(" ");
        std::thread::spawn(move || {
            barrier.wait();
            std::thread::sleep(pause);
            let t = Instant::now();
            let mut ch = cmd.spawn().expect("spawn the runtime");
            let status = wait_deadline(&mut ch, &what, CALL_TIMEOUT);
            Out {
                cmd: what,
                status,
                stdout: std::fs::read_to_string(o).unwrap_or_default(),
                stderr: std::fs::read_to_string(e).unwrap_or_default(),
                elapsed: t.elapsed(),
            }
        })
    };
    let ta = go(a, Duration::ZERO, barrier.clone());
    let tb = go(b, offset, barrier);
    (ta.join().unwrap(), tb.join().unwrap())
}

/// A runtime error that says what happened: exit 1, a message naming the
/// container, not a crash.
fn clear_error(o: &Out, id: &str) -> bool {
    o.code() == Some(1) && o.stderr.contains(id) && o.stderr.trim().lines().count() <= 3
}

#[test]
fn racing_creates_of_one_id() {
    let _g = serial();
    for round in 0..6 {
        let a = Container::new_linked(&format!("crash_race{round}"));
        // Second bundle, same --root and id.
        let mut b = Container::new_linked(&format!("crash_raceb{round}"));
        b.id = a.id.clone();
        b.root = a.root.clone();
        a.write_config_now();
        b.write_config_now();
        let barrier = Arc::new(Barrier::new(2));
        let spawn = |c: &Container, barrier: Arc<Barrier>| {
            let bs = c.bundle_str();
            let (mut cmd, o, e) = c.command(&["create", "--bundle", &bs, &c.id]);
            let what = format!("create {}", c.id);
            std::thread::spawn(move || {
                barrier.wait();
                let mut ch = cmd.spawn().unwrap();
                let st = wait_deadline(&mut ch, &what, CALL_TIMEOUT);
                (
                    st.success(),
                    std::fs::read_to_string(e).unwrap_or_default(),
                    o,
                )
            })
        };
        let ta = spawn(&a, barrier.clone());
        let tb = spawn(&b, barrier);
        let (oka, erra, _) = ta.join().unwrap();
        let (okb, errb, _) = tb.join().unwrap();
        assert!(
            oka ^ okb,
            "round {round}: exactly one create must succeed (a: {oka} {erra:?}; b: {okb} {errb:?})"
        );
        let loser_err = if oka { &errb } else { &erra };
        assert!(
            loser_err.contains("already exists"),
            "round {round}: loser stderr {loser_err:?}"
        );
        // The winner is a proper container with the winner's bundle (the
        // loser's cleanup must not have removed the winner's state).
        let so = a.state();
        assert!(
            so.ok(),
            "round {round}: winner's state vanished after the losing create:\n{}\n  winner stderr: {:?}",
            so.describe(),
            if oka { &erra } else { &errb }
        );
        let st = so.stdout;
        assert_eq!(json_field(&st, "status").as_deref(), Some("created"));
        let winner_bundle = if oka { &a.bundle } else { &b.bundle };
        assert_eq!(
            std::fs::canonicalize(json_field(&st, "bundle").unwrap_or_default()).ok(),
            std::fs::canonicalize(winner_bundle).ok()
        );
        let pid = json_field(&st, "pid").unwrap();
        let ours = processes_matching(&[&a.marker, &b.marker], &[]);
        // Only the winner's init may exist (its env holds its marker).
        assert!(
            ours.len() <= 1,
            "round {round}: processes {ours:?} (winner pid {pid})"
        );
        a.delete(true).assert_ok();
        assert!(a.root_entries().is_empty(), "{:?}", a.root_entries());
        // No temporary directory of the loser, no process of either.
        let t = traces(&a);
        assert!(t.is_empty(), "round {round}: traces {t:?}");
        let t = traces(&b);
        assert!(t.is_empty(), "round {round}: traces of the loser {t:?}");
        // `b` shares id/root; its Drop runs delete --force again harmlessly.
        drop(b);
    }
}

#[test]
fn start_races_delete_force() {
    let _g = serial();
    let rounds = 12;
    let mut bad = vec![];
    let (mut start_won, mut delete_won) = (0, 0);
    for round in 0..rounds {
        let c = Container::with_args_linked(
            &format!("crash_sd{round}"),
            &["sh", "-c", "echo $PUNCKER_TEST_MARKER; sleep 1000"],
        );
        c.create().assert_ok();
        // Alternate who goes first; offsets 0..2.5 ms.
        let offset = Duration::from_micros(500 * (round as u64 / 2 % 6));
        let (s, d) = if round % 2 == 0 {
            race(&c, &["start", &c.id], &["delete", "--force", &c.id], offset)
        } else {
            let (d, s) = race(&c, &["delete", "--force", &c.id], &["start", &c.id], offset);
            (s, d)
        };
        let mut p = vec![];
        if !d.ok() {
            p.push(format!("delete --force failed:\n{}", d.describe()));
        }
        if s.ok() {
            start_won += 1;
        } else {
            delete_won += 1;
            if !clear_error(&s, &c.id) {
                p.push(format!("start failed unclearly:\n{}", s.describe()));
            }
        }
        // Whoever won, the end is the same: the container is gone, whole.
        let st = c.state();
        if st.ok() || !st.stderr.contains("does not exist") {
            p.push(format!("state after both:\n{}", st.describe()));
        }
        p.extend(traces(&c));
        if !p.is_empty() {
            bad.push(format!(
                "round {round} (offset {}, {} first):\n    {}",
                ms(offset),
                if round % 2 == 0 { "start" } else { "delete" },
                p.join("\n    ")
            ));
        }
    }
    eprintln!("start vs delete --force: start succeeded {start_won}, start refused {delete_won}");
    assert!(
        bad.is_empty(),
        "{} of {rounds} rounds wrong:\n  {}",
        bad.len(),
        bad.join("\n  ")
    );
}

#[test]
fn delete_force_twice_concurrently() {
    let _g = serial();
    let rounds = 9;
    let mut bad = vec![];
    for round in 0..rounds {
        let how = ["created", "running", "stopped"][round % 3];
        let c = Container::with_args_linked(
            &format!("crash_dd{round}"),
            if how == "stopped" {
                &["true"]
            } else {
                &["sleep", "1000"]
            },
        );
        c.create().assert_ok();
        if how != "created" {
            c.start().assert_ok();
        }
        if how == "stopped" {
            c.wait_status("stopped", SHORT);
        }
        let offset = Duration::from_micros(300 * (round as u64 / 3));
        let (a, b) = race(
            &c,
            &["delete", "--force", &c.id],
            &["delete", "--force", &c.id],
            offset,
        );
        let mut p = vec![];
        for o in [&a, &b] {
            if !o.ok() {
                p.push(format!("a delete --force failed:\n{}", o.describe()));
            }
        }
        if c.state().ok() {
            p.push("state still succeeds".into());
        }
        p.extend(traces(&c));
        if !p.is_empty() {
            bad.push(format!("round {round} ({how}):\n    {}", p.join("\n    ")));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {rounds} rounds wrong:\n  {}",
        bad.len(),
        bad.join("\n  ")
    );
}

#[test]
fn create_races_delete_force() {
    let _g = serial();
    // delete --force lands before, during and after a create of the same
    // id. Either the container is gone without a trace, or it is whole:
    // `created`, and it starts.
    let base = baseline_create();
    let offsets = kill_delays(base, 10);
    let mut bad = vec![];
    let (mut survived, mut gone) = (0, 0);
    for (round, offset) in offsets.iter().enumerate() {
        let c = Container::with_args_linked(
            &format!("crash_cd{round}"),
            &["sh", "-c", "echo $PUNCKER_TEST_MARKER; sleep 1000"],
        );
        c.write_config_now();
        let b = c.bundle_str();
        let (cr, d) = race(
            &c,
            &["create", "--bundle", &b, &c.id],
            &["delete", "--force", &c.id],
            *offset,
        );
        let mut p = vec![];
        if !d.ok() {
            p.push(format!("delete --force failed:\n{}", d.describe()));
        }
        if !cr.ok() && !clear_error(&cr, &c.id) {
            p.push(format!("create failed unclearly:\n{}", cr.describe()));
        }
        let s = c.state();
        if s.ok() {
            survived += 1;
            let status = json_field(&s.stdout, "status");
            if !cr.ok() || status.as_deref() != Some("created") {
                p.push(format!(
                    "left behind (create ok: {}):\n{}",
                    cr.ok(),
                    s.describe()
                ));
            } else {
                let st = c.start();
                if !st.ok() {
                    p.push(format!(
                        "the surviving container does not start:\n{}",
                        st.describe()
                    ));
                }
            }
            let d2 = c.delete(true);
            if !d2.ok() {
                p.push(format!("second delete --force failed:\n{}", d2.describe()));
            }
        } else {
            gone += 1;
        }
        p.extend(traces(&c));
        if !p.is_empty() {
            bad.push(format!(
                "round {round} (delete {} after create):\n    {}",
                ms(*offset),
                p.join("\n    ")
            ));
        }
    }
    eprintln!("create vs delete --force: container survived {survived}, gone {gone}");
    assert!(
        bad.is_empty(),
        "{} of {} rounds wrong (baseline create {}):\n  {}",
        bad.len(),
        offsets.len(),
        ms(base),
        bad.join("\n  ")
    );
}
