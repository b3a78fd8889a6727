//! Crash safety and concurrency: killing `create` part-way, parallel
//! lifecycles, and racing creates of one id.

mod common;

use common::*;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Time a normal `create` (plus delete) to pick the kill delays.
fn baseline_create_ms() -> u64 {
    let c = Container::new("crash_baseline");
    let o = c.create();
    o.assert_ok();
    c.delete(true).assert_ok();
    o.elapsed.as_millis() as u64
}

#[test]
fn sigkill_create_at_many_points_leaves_nothing() {
    let base = baseline_create_ms().max(5);
    let mut delays: Vec<u64> = vec![0, 1, 2, 3, 5, 7, 10, 15, 20, 30, 40, 60, 80];
    // Fill up to ~1.5x the normal duration with an even spread.
    let top = base * 3 / 2 + 5;
    let steps = 20usize;
    for i in 1..=steps {
        delays.push(top * i as u64 / steps as u64);
    }
    delays.sort();
    delays.dedup();

    let mut leaks = vec![];
    let mut completed = 0;
    for (round, delay) in delays.iter().enumerate() {
        let c = Container::with_args(
            &format!("crash_r{round}"),
            &["sh", "-c", "sleep 1000; echo PKROUND"],
        );
        c.write_config_now();
        let b = c.bundle_str();
        let (mut cmd, _, _) = c.command(&["create", "--bundle", &b, &c.id]);
        let mut child = cmd.spawn().expect("spawn create");
        std::thread::sleep(Duration::from_millis(*delay));
        let _ = child.kill(); // SIGKILL
        let st = child.wait().unwrap();
        if st.success() {
            completed += 1;
        }
        let d = c.delete(true);
        // Give the kernel a moment to reap killed processes.
        let mut procs = vec![];
        wait_until(Duration::from_secs(2), || {
            procs = c.leaked_processes();
            procs.is_empty()
        });
        let entries = c.root_entries();
        let mounts = c.leaked_mounts();
        if !procs.is_empty() || !entries.is_empty() || !mounts.is_empty() {
            leaks.push(format!(
                "round {round} (kill after {delay} ms, create {}; delete --force exit {:?}, stderr {:?}):\n    root entries {entries:?}\n    processes {procs:?}\n    mounts {mounts:?}",
                if st.success() { "had finished" } else { "killed" },
                d.code(),
                d.stderr.trim()
            ));
        }
        // Drop kills leftovers so later rounds start clean.
    }
    assert!(
        leaks.is_empty(),
        "{} of {} rounds leaked (baseline create {base} ms, {completed} creates finished before the kill):\n  {}",
        leaks.len(),
        delays.len(),
        leaks.join("\n  ")
    );
}

#[test]
fn sigkill_create_then_state_is_consistent() {
    // After a killed create, `state` either fails or reports a usable
    // container that `delete --force` removes.
    for delay in [3u64, 8, 15, 30] {
        let c = Container::new(&format!("crash_state_{delay}"));
        c.write_config_now();
        let b = c.bundle_str();
        let (mut cmd, _, _) = c.command(&["create", "--bundle", &b, &c.id]);
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        let s = c.state();
        if s.ok() {
            let status = json_field(&s.stdout, "status").unwrap_or_default();
            assert!(
                ["creating", "created", "stopped", "running"].contains(&status.as_str()),
                "bogus state after killed create: {}",
                s.stdout
            );
        }
        c.delete(true);
        c.state().assert_fail();
        c.assert_no_traces();
        // The id is reusable afterwards.
        let o = c.create();
        o.assert_ok();
        assert_eq!(c.status(), "created");
    }
}

/// Count of (mount lines mentioning `prefix`, processes with `marker_prefix`).
fn census(prefix: &str, marker_prefix: &str) -> (usize, usize) {
    (
        host_mounts_matching(prefix).len(),
        processes_matching(&[marker_prefix], &[]).len(),
    )
}

#[test]
fn parallel_lifecycles() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 10;
    let prefix = base_dir().join("crash_par").to_string_lossy().to_string();
    let marker_prefix = "PKMARK_crash_par";
    let before = census(&prefix, marker_prefix);
    let barrier = Arc::new(Barrier::new(THREADS));
    let start = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let barrier = barrier.clone();
            std::thread::spawn(move || -> Vec<String> {
                let mut errs = vec![];
                barrier.wait();
                for r in 0..ROUNDS {
                    let c = Container::with_args(
                        &format!("crash_par_{t}_{r}"),
                        &["sh", "-c", "echo $PUNCKER_TEST_MARKER"],
                    );
                    let steps = (|| -> Result<(), String> {
                        let o = c.create();
                        if !o.ok() {
                            return Err(format!("create: {}", o.describe()));
                        }
                        let o = c.start();
                        if !o.ok() {
                            return Err(format!(
                                "start: {}\n  create-time stderr (runtime + container): {:?}",
                                o.describe(),
                                c.container_stderr()
                            ));
                        }
                        let ok = wait_until(Duration::from_secs(20), || {
                            let s = c.state();
                            s.ok() && json_field(&s.stdout, "status").as_deref() == Some("stopped")
                        });
                        if !ok {
                            return Err("never stopped".into());
                        }
                        if c.container_stdout().trim() != c.marker {
                            return Err(format!("wrong output {:?}", c.container_stdout()));
                        }
                        let o = c.delete(false);
                        if !o.ok() {
                            return Err(format!("delete: {}", o.describe()));
                        }
                        if !c.root_entries().is_empty() {
                            return Err(format!(
                                "root entries after delete: {:?}",
                                c.root_entries()
                            ));
                        }
                        if !c.leaked_mounts().is_empty() {
                            return Err(format!("mounts after delete: {:?}", c.leaked_mounts()));
                        }
                        Ok(())
                    })();
                    if let Err(e) = steps {
                        errs.push(format!("{}: {e}", c.id));
                    }
                }
                errs
            })
        })
        .collect();
    let mut errs = vec![];
    for h in handles {
        match h.join() {
            Ok(e) => errs.extend(e),
            Err(_) => errs.push("worker panicked".into()),
        }
    }
    let elapsed = start.elapsed();
    let mut after = census(&prefix, marker_prefix);
    wait_until(Duration::from_secs(3), || {
        after = census(&prefix, marker_prefix);
        after == before
    });
    assert!(
        errs.is_empty(),
        "{} failures:\n  {}",
        errs.len(),
        errs.join("\n  ")
    );
    assert_eq!(
        after,
        before,
        "census (mounts, processes) differs after {} lifecycles",
        THREADS * ROUNDS
    );
    eprintln!("{} lifecycles in {elapsed:?}", THREADS * ROUNDS);
}

#[test]
fn racing_creates_of_one_id() {
    for round in 0..6 {
        let a = Container::new(&format!("crash_race{round}"));
        // Second bundle, same --root and id.
        let mut b = Container::new(&format!("crash_raceb{round}"));
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
        // `b` shares id/root; its Drop runs delete --force again harmlessly.
        drop(b);
    }
}
