//! Cross-namespace commands over the real binaries: `status --all`,
//! `stop --all` and `release-handles --path` with daemons of several
//! namespaces and cache roots sharing one runtime directory (one broker).
//!
//! What a daemon holds is read from `/proc/<pid>/{fd,fdinfo,cwd}`, never
//! from its own report alone; a miss whose compile runs in the released
//! path is forgotten, so its Store stores nothing. Routing, staleness and
//! spawn races are covered by broker.rs and faults.rs, not here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use conformance::{ok, server_pid, wait_for, zccache_bin, Sandbox};
use serde_json::Value;

/// One (cache root, namespace) of a sandbox, and the directory its builds
/// run in.
struct Place<'a> {
    sb: &'a Sandbox,
    cache: PathBuf,
    namespace: &'a str,
}

impl Place<'_> {
    fn zccache<const N: usize>(&self, cwd: &Path, args: [&str; N]) -> Output {
        self.sb
            .cmd(zccache_bin())
            .current_dir(cwd)
            .env("ZCCACHE_CACHE_DIR", &self.cache)
            .env("ZCCACHE_DAEMON_NAMESPACE", self.namespace)
            .args(args)
            .output()
            .expect("run zccache")
    }

    /// The pid this place's own `status --json` reports.
    fn pid(&self) -> u32 {
        let out = self.zccache(&self.sb.work, ["status", "--json"]);
        let status: Value = serde_json::from_slice(&ok(&out).stdout).expect("status is JSON");
        status["pid"].as_u64().expect("status has a pid") as u32
    }
}

/// Runs `zccache stop --all` when dropped, so that daemons of namespaces
/// and roots the sandbox does not know about never outlive a test.
struct StopAll<'a>(&'a Sandbox);

impl Drop for StopAll<'_> {
    fn drop(&mut self) {
        let _ = self.0.zccache(["stop", "--all"]);
    }
}

/// `zccache <args>` parsed as JSON, with the exit code.
fn json_of<const N: usize>(sb: &Sandbox, args: [&str; N]) -> (Option<i32>, Value) {
    let out = sb.zccache(args);
    let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "zccache {args:?}: not JSON ({e}):\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), value)
}

fn pids_of(daemons: &Value) -> BTreeSet<u32> {
    daemons
        .as_array()
        .expect("an array of daemons")
        .iter()
        .map(|d| d["pid"].as_u64().expect("every entry names its pid") as u32)
        .collect()
}

/// `/proc/<pid>/stat` state letter, `None` once the pid is gone.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is parenthesized and may hold spaces.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Gone, or a zombie: it holds nothing and serves nothing, and reaping it
/// is up to whichever process inherited it.
fn is_dead(pid: u32) -> bool {
    matches!(proc_state(pid), None | Some('Z' | 'X'))
}

fn broker_endpoint(sb: &Sandbox) -> PathBuf {
    let rt = router::RuntimeDir::at(&sb.runtime).expect("sandbox runtime dir");
    router::broker_paths(&rt, ::frame::PROTOCOL_VERSION).endpoint
}

/// Everything `pid` has open or sits in under `dir` (both spellings, as
/// given and canonical): descriptors, inotify watches, its cwd.
fn held_under(pid: u32, dir: &Path) -> Vec<String> {
    let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let under = |p: &Path| p.starts_with(dir) || p.starts_with(&canonical);
    let mut held = vec![];
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/fd: {e}"));
    for fd in fds {
        let fd = fd.unwrap();
        let Ok(target) = std::fs::read_link(fd.path()) else {
            continue;
        };
        if under(&target) {
            held.push(format!("fd {:?} -> {}", fd.file_name(), target.display()));
        }
        let info = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
        let info = std::fs::read_to_string(info).unwrap_or_default();
        // Any inotify watch at all: the daemon has no business watching.
        if let Some(watch) = info.lines().find(|l| l.starts_with("inotify wd:")) {
            held.push(format!("fd {:?} watches: {watch}", fd.file_name()));
        }
    }
    if let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) {
        if under(&cwd) {
            held.push(format!("cwd {}", cwd.display()));
        }
    }
    held
}

/// A small project: a source that includes a header from a subdirectory.
fn write_project(dir: &Path) {
    std::fs::create_dir_all(dir.join("inc")).unwrap();
    std::fs::write(dir.join("inc/w.h"), "#define W 7\n").unwrap();
    std::fs::write(
        dir.join("w.c"),
        "#include \"inc/w.h\"\nint w(void) { return W; }\n",
    )
    .unwrap();
    for f in ["inc/w.h", "w.c"] {
        conformance::backdate(&dir.join(f));
    }
}

#[test]
fn release_handles_lets_go_of_a_worktree_in_every_namespace() {
    let sb = Sandbox::new("release");
    let _stop = StopAll(&sb);
    let worktree = sb.root.join("worktree");
    write_project(&worktree);
    // Old enough ctimes that the daemons memoize digests of files in the
    // worktree: there is something to release.
    std::thread::sleep(Duration::from_millis(2100));
    let second_root = sb.root.join("cache2");
    std::fs::create_dir_all(&second_root).unwrap();
    let places = [
        Place {
            sb: &sb,
            cache: sb.cache.clone(),
            namespace: "a",
        },
        Place {
            sb: &sb,
            cache: second_root.clone(),
            namespace: "b",
        },
    ];
    ok(&sb.bare(
        "gcc",
        ["-c", worktree.join("w.c").to_str().unwrap(), "-o", "ref.o"],
    ));
    let reference = sb.read("ref.o");
    for place in &places {
        // Twice: a miss, then a hit, each reading the worktree.
        for _ in 0..2 {
            ok(&place.zccache(&worktree, ["gcc", "-c", "w.c", "-o", "w.o"]));
            assert_eq!(std::fs::read(worktree.join("w.o")).unwrap(), reference);
        }
    }
    let pids: BTreeSet<u32> = places.iter().map(Place::pid).collect();
    assert_eq!(pids.len(), 2, "one daemon per namespace and root");

    let path = worktree.to_str().unwrap();
    let (code, report) = json_of(&sb, ["release-handles", "--path", path, "--json"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(pids_of(&report), pids, "{report:#}");
    let mut released_metadata = 0;
    for entry in report.as_array().unwrap() {
        assert!(entry["refused"].is_null(), "{entry:#}");
        assert_eq!(entry["held"], serde_json::json!([]), "{entry:#}");
        released_metadata += entry["released"]["metadata_entries"].as_u64().unwrap();
    }
    assert!(
        released_metadata > 0,
        "digests of worktree files were cached: {report:#}"
    );
    let namespaces: BTreeSet<&str> = report
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(namespaces, BTreeSet::from(["a", "b"]));
    for &pid in &pids {
        assert!(!is_dead(pid), "release-handles must not stop daemon {pid}");
        assert_eq!(
            held_under(pid, &worktree),
            Vec::<String>::new(),
            "daemon {pid}"
        );
    }
    // The human form says the same, and so does a second run.
    let out = sb.zccache(["release-handles", "--path", path]);
    let text = String::from_utf8_lossy(&ok(&out).stdout).into_owned();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines().all(|l| l.ends_with("holds nothing there")),
        "{text}"
    );

    std::fs::remove_dir_all(&worktree).unwrap();
    let elsewhere = sb.root.join("elsewhere");
    write_project(&elsewhere);
    for place in &places {
        ok(&place.zccache(&elsewhere, ["gcc", "-c", "w.c", "-o", "w.o"]));
        assert_eq!(std::fs::read(elsewhere.join("w.o")).unwrap(), reference);
        assert!(!worktree.exists(), "nothing recreated the removed worktree");
    }
    // The same daemons served the rebuild.
    assert_eq!(places.iter().map(Place::pid).collect::<BTreeSet<_>>(), pids);
}

#[test]
fn a_daemon_whose_cache_root_lies_under_the_path_refuses() {
    let sb = Sandbox::new("refuse");
    let _stop = StopAll(&sb);
    let parent = sb.root.join("nested");
    let inner = Place {
        sb: &sb,
        cache: parent.join("cache"),
        namespace: "default",
    };
    let outer = Place {
        sb: &sb,
        cache: sb.cache.clone(),
        namespace: "other",
    };
    std::fs::create_dir_all(&inner.cache).unwrap();
    sb.write("r.c", "int r(void) { return 3; }\n");
    for place in [&inner, &outer] {
        ok(&place.zccache(&sb.work, ["gcc", "-c", "r.c"]));
    }
    let (inner_pid, outer_pid) = (inner.pid(), outer.pid());

    let path = parent.to_str().unwrap();
    let (code, report) = json_of(&sb, ["release-handles", "--path", path, "--json"]);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(pids_of(&report), BTreeSet::from([inner_pid, outer_pid]));
    for entry in report.as_array().unwrap() {
        let pid = entry["pid"].as_u64().unwrap() as u32;
        if pid == inner_pid {
            let refused = entry["refused"]
                .as_str()
                .unwrap_or_else(|| panic!("{entry:#}"));
            assert!(refused.contains("stop"), "says to stop it: {refused}");
        } else {
            assert!(entry["refused"].is_null(), "{entry:#}");
        }
    }
    // Through a trailing slash and a symlink it is the same directory.
    let link = sb.root.join("link");
    std::os::unix::fs::symlink(&parent, &link).unwrap();
    for spelling in [format!("{path}/"), link.to_str().unwrap().to_owned()] {
        let (code, report) = json_of(&sb, ["release-handles", "--path", &spelling, "--json"]);
        assert_eq!(code, Some(1), "{spelling}: {report:#}");
    }
    let out = sb.zccache(["release-handles", "--path", path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("refused"));
    assert!(!is_dead(inner_pid), "a refusing daemon keeps running");

    // Stopped as it says, nothing holds the path any more.
    ok(&inner.zccache(&sb.work, ["stop"]));
    wait_for("the inner daemon to exit", || {
        is_dead(inner_pid).then_some(())
    });
    let (code, report) = json_of(&sb, ["release-handles", "--path", path, "--json"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(pids_of(&report), BTreeSet::from([outer_pid]));
}

#[test]
fn status_all_lists_exactly_the_live_daemons_and_stop_all_stops_them() {
    let sb = Sandbox::new("all");
    let _stop = StopAll(&sb);
    // Nothing runs yet: an empty list, and nothing is started.
    let (code, listed) = json_of(&sb, ["status", "--all", "--json"]);
    assert_eq!((code, listed), (Some(0), serde_json::json!([])));
    let out = sb.zccache(["status", "--all"]);
    assert_eq!(String::from_utf8_lossy(&ok(&out).stdout).lines().count(), 1);
    ok(&sb.zccache(["stop", "--all"]));
    ok(&sb.zccache(["release-handles", "--path", sb.work.to_str().unwrap()]));
    assert!(
        !broker_endpoint(&sb).exists(),
        "none of these starts a broker"
    );

    let second_root = sb.root.join("cache2");
    std::fs::create_dir_all(&second_root).unwrap();
    let places = [
        Place {
            sb: &sb,
            cache: sb.cache.clone(),
            namespace: "a",
        },
        Place {
            sb: &sb,
            cache: sb.cache.clone(),
            namespace: "b",
        },
        Place {
            sb: &sb,
            cache: second_root,
            namespace: "default",
        },
    ];
    sb.write("s.c", "int s(void) { return 4; }\n");
    for place in &places {
        ok(&place.zccache(&sb.work, ["gcc", "-c", "s.c"]));
    }
    let pids: BTreeSet<u32> = places.iter().map(Place::pid).collect();
    assert_eq!(pids.len(), 3);

    let (code, listed) = json_of(&sb, ["status", "--all", "--json"]);
    assert_eq!(code, Some(0));
    assert_eq!(pids_of(&listed), pids, "{listed:#}");
    for daemon in listed.as_array().unwrap() {
        for field in ["cache_root", "namespace", "pid", "uptime_secs"] {
            assert!(!daemon[field].is_null(), "{field} in {daemon:#}");
        }
        for field in ["hits", "misses", "entries", "bytes"] {
            assert!(daemon[field].is_u64(), "{field} in {daemon:#}");
        }
        // Each served the one compile; namespaces of one root share its
        // store, so the second of them may hit what the first stored.
        let served = daemon["misses"].as_u64().unwrap() + daemon["hits"].as_u64().unwrap();
        assert_eq!(served, 1, "{daemon:#}");
    }
    let roots_and_namespaces: BTreeSet<(String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["cache_root"].as_str().unwrap().to_owned(),
                d["namespace"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let canonical = |p: &Path| {
        std::fs::canonicalize(p)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    let expected: BTreeSet<(String, String)> = places
        .iter()
        .map(|p| (canonical(&p.cache), p.namespace.to_owned()))
        .collect();
    assert_eq!(roots_and_namespaces, expected);
    let out = sb.zccache(["status", "--all"]);
    let table = String::from_utf8_lossy(&ok(&out).stdout).into_owned();
    assert_eq!(
        table.lines().count(),
        4,
        "a header and one row per daemon:\n{table}"
    );
    for pid in &pids {
        assert!(table.contains(&format!(" {pid} ")), "{pid} in\n{table}");
    }

    let broker = server_pid(&broker_endpoint(&sb));
    let out = sb.zccache(["stop", "--all"]);
    ok(&out);
    // Returning means gone: no polling needed for the endpoints.
    assert!(
        !broker_endpoint(&sb).exists(),
        "the broker's endpoint is gone"
    );
    for pid in pids.iter().chain([&broker]) {
        wait_for(&format!("pid {pid} to exit"), || {
            is_dead(*pid).then_some(())
        });
    }
    let (code, listed) = json_of(&sb, ["status", "--all", "--json"]);
    assert_eq!((code, listed), (Some(0), serde_json::json!([])));
    assert!(
        !broker_endpoint(&sb).exists(),
        "status --all started nothing"
    );

    // The next compile starts a broker and a daemon again.
    std::fs::remove_file(sb.path("s.o")).unwrap();
    ok(&places[0].zccache(&sb.work, ["gcc", "-c", "s.c"]));
    assert!(sb.path("s.o").exists());
    let restarted = places[0].pid();
    assert!(!pids.contains(&restarted));
    let (_, listed) = json_of(&sb, ["status", "--all", "--json"]);
    assert_eq!(pids_of(&listed), BTreeSet::from([restarted]));
}

#[test]
fn a_restarted_broker_finds_the_daemons_of_the_one_before() {
    let sb = Sandbox::new("adopt");
    let _stop = StopAll(&sb);
    let places = [
        Place {
            sb: &sb,
            cache: sb.cache.clone(),
            namespace: "a",
        },
        Place {
            sb: &sb,
            cache: sb.cache.clone(),
            namespace: "b",
        },
    ];
    sb.write("t.c", "int t(void) { return 5; }\n");
    for place in &places {
        ok(&place.zccache(&sb.work, ["gcc", "-c", "t.c"]));
    }
    let pids: BTreeSet<u32> = places.iter().map(Place::pid).collect();
    // Only this broker stops; its daemons keep running.
    let first = server_pid(&broker_endpoint(&sb));
    sb.stop_broker();
    wait_for("the first broker to exit", || is_dead(first).then_some(()));
    assert!(pids.iter().all(|&p| !is_dead(p)));

    // A Route (through `start`) brings up a new broker, which lists both.
    ok(&places[0].zccache(&sb.work, ["start"]));
    assert_ne!(server_pid(&broker_endpoint(&sb)), first);
    let (code, listed) = json_of(&sb, ["status", "--all", "--json"]);
    assert_eq!(code, Some(0));
    assert_eq!(pids_of(&listed), pids, "{listed:#}");
    ok(&sb.zccache(["stop", "--all"]));
    for pid in &pids {
        wait_for(&format!("daemon {pid} to exit"), || {
            is_dead(*pid).then_some(())
        });
    }
}

#[test]
fn a_miss_compiling_in_the_released_path_is_forgotten_not_stored() {
    let sb = Sandbox::new("pending");
    let _stop = StopAll(&sb);
    let worktree = sb.root.join("wt");
    write_project(&worktree);
    let real_gcc = conformance::which("gcc").expect("gcc on PATH");
    // A gcc that waits for a go-ahead file before compiling, so the
    // release arrives between the Miss and its Store.
    let bin = sb.root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let (started, go) = (sb.root.join("started"), sb.root.join("go"));
    std::fs::write(
        bin.join("gcc"),
        format!(
            "#!/bin/sh\n: > '{}'\ni=0\nwhile [ ! -e '{}' ] && [ $i -lt 3000 ]; do sleep 0.02; i=$((i+1)); done\nexec '{}' \"$@\"\n",
            started.display(),
            go.display(),
            real_gcc.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        bin.join("gcc"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    conformance::backdate(&bin.join("gcc"));
    // A source changed within the compile's own second is never stored,
    // and no token is handed out for it: let the ctimes age.
    std::thread::sleep(Duration::from_millis(2100));
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let compile = || {
        let mut cmd = sb.cmd(zccache_bin());
        cmd.current_dir(&worktree)
            .env("PATH", &path)
            .args(["gcc", "-c", "w.c", "-o", "w.o"]);
        cmd
    };

    let child = compile().spawn().expect("start the compile");
    // Lets the compiler go even when an assertion below fails first.
    struct Go<'a>(&'a Path);
    impl Drop for Go<'_> {
        fn drop(&mut self) {
            let _ = std::fs::write(self.0, "");
        }
    }
    let go_on_drop = Go(&go);
    wait_for("the compiler to start", || started.exists().then_some(()));
    let (code, report) = json_of(
        &sb,
        [
            "release-handles",
            "--path",
            worktree.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report[0]["released"]["pending_compiles"], 1, "{report:#}");
    drop(go_on_drop);
    let out = child.wait_with_output().unwrap();
    ok(&out);
    ok(&sb.bare(
        "gcc",
        ["-c", worktree.join("w.c").to_str().unwrap(), "-o", "ref.o"],
    ));
    assert_eq!(
        std::fs::read(worktree.join("w.o")).unwrap(),
        sb.read("ref.o")
    );

    // The forgotten token stored nothing, so the same compile misses again.
    let status = sb.status();
    assert_eq!(status["stored"], 0, "{status:#}");
    ok(&compile().output().unwrap());
    let (hits, misses, _) = sb.hmp();
    assert_eq!((hits, misses), (0, 2));
}

/// The three binaries speaking the protocol after ours, built into
/// `target/proto-other` (the same place broker.rs builds them, so one build
/// serves both).
fn other_protocol_bin() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let target = workspace.join("target/proto-other");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let other = ::frame::PROTOCOL_VERSION + 1;
    let out = std::process::Command::new(cargo)
        .current_dir(workspace)
        .env("ZCCACHE_PROTOCOL_VERSION_OVERRIDE", other.to_string())
        .args(["build", "-p", "wrapper", "-p", "broker", "-p", "daemon"])
        .arg("--target-dir")
        .arg(&target)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    ok(&out);
    target.join("debug")
}

#[test]
fn the_all_commands_leave_another_protocol_version_alone() {
    let bin2 = other_protocol_bin().join("zccache");
    let sb = Sandbox::new("versions");
    let v2 = |args: &[&str]| sb.cmd(&bin2).args(args).output().unwrap();
    struct StopV2<'a>(&'a dyn Fn(&[&str]) -> Output);
    impl Drop for StopV2<'_> {
        fn drop(&mut self) {
            let _ = (self.0)(&["stop", "--all"]);
        }
    }
    let _stop2 = StopV2(&v2);
    let _stop1 = StopAll(&sb);
    sb.write("v.c", "int v(void) { return 6; }\n");
    ok(&sb.zccache(["gcc", "-c", "v.c"]));
    ok(&v2(&["gcc", "-c", "v.c"]));
    let d1 = sb.status()["pid"].as_u64().unwrap() as u32;
    let s2: Value = serde_json::from_slice(&ok(&v2(&["status", "--json"])).stdout).unwrap();
    let d2 = s2["pid"].as_u64().unwrap() as u32;
    // The two versions share the root's store: the second compile may
    // already have been a hit on what the first stored.
    let h2 = s2["hits"].as_u64().unwrap();
    assert_ne!(d1, d2);

    let (_, listed) = json_of(&sb, ["status", "--all", "--json"]);
    assert_eq!(pids_of(&listed), BTreeSet::from([d1]));
    let listed2: Value =
        serde_json::from_slice(&ok(&v2(&["status", "--all", "--json"])).stdout).unwrap();
    assert_eq!(pids_of(&listed2), BTreeSet::from([d2]));
    let (code, report) = json_of(
        &sb,
        [
            "release-handles",
            "--path",
            sb.work.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(pids_of(&report), BTreeSet::from([d1]));

    let broker1 = server_pid(&broker_endpoint(&sb));
    ok(&sb.zccache(["stop", "--all"]));
    for pid in [d1, broker1] {
        wait_for(&format!("pid {pid} to exit"), || is_dead(pid).then_some(()));
    }
    assert!(!is_dead(d2), "the other protocol's daemon runs on");
    // With no broker of ours, the other version's daemon is not ours to
    // report: nothing runs, nothing is held.
    let (code, listed) = json_of(&sb, ["status", "--all", "--json"]);
    assert_eq!((code, listed), (Some(0), serde_json::json!([])));
    ok(&sb.zccache(["stop", "--all"]));
    std::fs::remove_file(sb.path("v.o")).unwrap();
    ok(&v2(&["gcc", "-c", "v.c"]));
    assert_eq!(v2(&["status", "--json"]).status.code(), Some(0));
    let s2: Value = serde_json::from_slice(&v2(&["status", "--json"]).stdout).unwrap();
    assert_eq!(s2["pid"].as_u64(), Some(u64::from(d2)));
    assert_eq!(s2["hits"].as_u64(), Some(h2 + 1), "{s2:#}");
}
