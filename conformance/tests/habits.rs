//! What a ccache or sccache user reaches for (issue 13): their command spellings, stats without a daemon, a config file whose settings belong to the cache root, readable stats, and a broken setup said once. Runs the real binaries with gcc; it does not test caching itself (e2e and divergence do).

use std::process::Output;

use conformance::{ok, wait_for, zccache_bin, Sandbox};
use serde_json::Value;

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn err(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `zccache <args>`, which must succeed.
fn z<I, S>(sb: &Sandbox, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = sb.zccache(args);
    ok(&out);
    out
}

fn status(sb: &Sandbox) -> Value {
    serde_json::from_slice(&z(sb, ["status", "--json"]).stdout).expect("JSON")
}

/// One compile of `a.c` through zccache; its object must equal gcc's.
fn compile(sb: &Sandbox) -> Output {
    let out = sb.zccache(["gcc", "-c", "a.c", "-o", "a.o"]);
    let got = sb.read("a.o");
    ok(&sb.bare("gcc", ["-c", "a.c", "-o", "a.o"]));
    assert_eq!(got, sb.read("a.o"), "the object differs from gcc's");
    out
}

fn source(sb: &Sandbox) {
    sb.write("a.c", "int f(void) { return 42; }\n");
}

#[test]
fn ccache_and_sccache_spellings_do_what_they_do_there() {
    let sb = Sandbox::new("spellings");
    source(&sb);
    ok(&compile(&sb));
    ok(&compile(&sb));
    for spelling in ["-s", "--show-stats", "stats"] {
        let out = z(&sb, [spelling]);
        assert!(
            text(&out).contains("hit rate        50.0 %  (1 of 2 cacheable compiles)"),
            "{spelling}: {}",
            text(&out)
        );
    }
    for spelling in [&["-sv"][..], &["--show-adv-stats"], &["-s", "-v"]] {
        let out = z(&sb, spelling);
        assert!(text(&out).contains("not_stored_reasons"), "{spelling:?}");
    }
    assert_eq!(text(&z(&sb, ["-z"])), "statistics zeroed\n");
    assert_eq!(status(&sb)["hits"], 0);
    ok(&compile(&sb));
    assert_eq!(status(&sb)["hits"], 1, "zeroing kept the entries");
    z(&sb, ["--zero-stats"]);
    assert_eq!(text(&z(&sb, ["-C"])), "cache cleared\n");
    assert_eq!(status(&sb)["entries"], 0);
    z(&sb, ["--clear"]);
    for spelling in ["-V", "--version", "version"] {
        assert!(text(&z(&sb, [spelling])).starts_with("zccache "));
    }
    for spelling in ["-h", "--help", "help"] {
        let out = text(&z(&sb, [spelling]));
        assert!(out.contains("usage: zccache") && out.contains("d-<key>.log"));
    }
    let pid = status(&sb)["pid"].as_u64().unwrap();
    assert_eq!(text(&z(&sb, ["--stop-server"])), "daemon stopped\n");
    assert!(text(&z(&sb, ["--start-server"])).ends_with(".sock\n"));
    assert_ne!(status(&sb)["pid"].as_u64().unwrap(), pid, "a new daemon");
}

#[test]
fn a_slip_of_a_subcommand_is_not_run_as_a_program() {
    let sb = Sandbox::new("slips");
    // `stat` is a program on PATH, and zccache used to run it.
    for (typed, meant) in [("stat", "status"), ("clean", "clear"), ("hepl", "help")] {
        let out = sb.zccache([typed]);
        assert_eq!(out.status.code(), Some(2), "{typed}");
        assert!(
            err(&out).contains(&format!("did you mean `zccache {meant}`?")),
            "{typed}: {}",
            err(&out)
        );
        assert!(out.stdout.is_empty(), "{typed} ran something");
    }
    for bad in ["-Q", "--show-everything"] {
        assert_eq!(sb.zccache([bad]).status.code(), Some(2), "{bad}");
    }
}

#[test]
fn stats_zero_stats_and_clear_work_when_no_daemon_runs() {
    let sb = Sandbox::new("nodaemon");
    source(&sb);
    // Before any compile: nothing runs, and each still answers.
    let out = z(&sb, ["stats"]);
    assert!(text(&out).contains("hit rate"), "{}", text(&out));
    assert!(err(&out).contains("no daemon was running"), "{}", err(&out));
    z(&sb, ["stop"]);
    let out = z(&sb, ["status", "--json"]);
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout only");
    assert_eq!(json["hits"], 0);
    z(&sb, ["stop"]);
    z(&sb, ["zero-stats"]);
    z(&sb, ["stop"]);
    z(&sb, ["clear"]);
    // After the daemon left, its counters are still there.
    ok(&compile(&sb));
    ok(&compile(&sb));
    z(&sb, ["stop"]);
    assert_eq!(status(&sb)["hits"], 1, "the saved counters");
}

#[test]
fn daemon_settings_belong_to_their_cache_root_not_to_the_broker() {
    let sb = Sandbox::new("rootset");
    // The command that starts the broker asks for 1 MiB for its own root.
    let out = sb
        .cmd(zccache_bin())
        .arg("start")
        .env("ZCCACHE_MAX_SIZE", "1M")
        .output()
        .unwrap();
    ok(&out);
    let mine = status(&sb);
    assert_eq!(mine["max_size"], 1 << 20, "{mine}");
    assert_eq!(
        mine["settings"]["max_size"]["origin"],
        "the request that started the daemon"
    );
    // Handed over in a private file, not in the argv every user can read
    // (a remote tier's signing key travels the same way).
    let pid = mine["pid"].as_u64().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains("1048576"),
        "settings in the daemon's argv"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&sb.runtime)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".settings"))
        .collect();
    assert!(leftovers.is_empty(), "the settings file was not removed");
    // A daemon the same broker starts later for another root gets its own.
    let other = sb.root.join("cache2");
    std::fs::create_dir_all(&other).unwrap();
    let out = sb
        .cmd(zccache_bin())
        .args(["status", "--json"])
        .env("ZCCACHE_CACHE_DIR", &other)
        .output()
        .unwrap();
    let theirs: Value = serde_json::from_slice(&ok(&out).stdout).unwrap();
    assert_eq!(theirs["max_size"], 10u64 << 30, "{theirs}");
    assert_eq!(theirs["settings"]["max_size"]["origin"], "default");
    let _ = sb
        .cmd(zccache_bin())
        .arg("stop")
        .env("ZCCACHE_CACHE_DIR", &other)
        .output();
}

#[test]
fn max_size_in_the_config_file_reaches_the_running_daemon() {
    let sb = Sandbox::new("maxsize");
    source(&sb);
    ok(&compile(&sb));
    let before = status(&sb);
    assert_eq!(before["entries"], 1);
    let out = z(&sb, ["-M", "1"]);
    assert!(
        text(&out).contains("max_size set to 1 B in"),
        "{}",
        text(&out)
    );
    let file = sb.cache.join("zccache.toml");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "max_size = \"1\"\n"
    );
    let after = wait_for("the daemon applies the new limit", || {
        let s = status(&sb);
        (s["max_size"] == 1 && s["entries"] == 0).then_some(s)
    });
    assert_eq!(after["pid"], before["pid"], "nothing was restarted");
    let origin = after["settings"]["max_size"]["origin"].as_str().unwrap();
    assert_eq!(origin, format!("{}:1", file.display()));
    // `config` shows it with where it came from.
    let shown = text(&z(&sb, ["-p"]));
    let line = shown.lines().find(|l| l.starts_with("max_size ")).unwrap();
    assert!(
        line.contains(" 1 B ") && line.ends_with(&format!("({}:1)", file.display())),
        "{shown}"
    );
    assert_eq!(sb.zccache(["-M", "lots"]).status.code(), Some(1));
}

#[test]
fn a_broken_config_is_said_once_and_never_breaks_the_build() {
    let sb = Sandbox::new("badconf");
    source(&sb);
    let file = sb.cache.join("zccache.toml");
    std::fs::write(&file, "max_size = \"lots\"\nbogus = 1\n").unwrap();
    let first = compile(&sb);
    let said = err(ok(&first));
    let f = file.display();
    assert!(
        said.contains(&format!("{f}:1: max_size: \"lots\" is not a size"))
            && said.contains(&format!("{f}:2: bogus: unknown key")),
        "{said}"
    );
    let second = compile(&sb);
    assert_eq!(err(ok(&second)), "", "said once, not on every compile");
    let shown = text(&z(&sb, ["config"]));
    assert!(
        shown.contains("error: ") && shown.contains("bogus"),
        "{shown}"
    );
    let s = status(&sb);
    assert_eq!(s["max_size"], 10u64 << 30, "the default stays in force");
    assert_eq!(s["config_errors"].as_array().unwrap().len(), 2, "{s}");
}

#[test]
fn a_cache_dir_that_cannot_be_used_is_said_once_with_the_os_error() {
    let sb = Sandbox::new("filecache");
    source(&sb);
    let not_a_dir = sb.root.join("cachefile");
    std::fs::write(&not_a_dir, "").unwrap();
    let run = || {
        sb.cmd(zccache_bin())
            .args(["gcc", "-c", "a.c", "-o", "a.o"])
            .env("ZCCACHE_CACHE_DIR", &not_a_dir)
            .output()
            .unwrap()
    };
    let first = run();
    ok(&first);
    assert!(
        err(&first).contains(&format!(
            "use cache root {}: not a directory; compiling without the cache",
            not_a_dir.display()
        )),
        "{}",
        err(&first)
    );
    assert_eq!(err(ok(&run())), "", "said once");
    let under = sb.root.join("cachefile/sub");
    let out = sb
        .cmd(zccache_bin())
        .args(["gcc", "-c", "a.c", "-o", "a.o"])
        .env("ZCCACHE_CACHE_DIR", &under)
        .output()
        .unwrap();
    assert!(
        err(ok(&out)).contains("(os error "),
        "the OS error: {}",
        err(&out)
    );
}

#[test]
fn file_settings_reach_the_lookup_and_the_environment_wins() {
    let sb = Sandbox::new("lookupset");
    source(&sb);
    let file = sb.root.join("my.toml");
    std::fs::write(&file, "path_remap = \"bogus\"\n").unwrap();
    let out = sb
        .cmd(zccache_bin())
        .arg("config")
        .env("ZCCACHE_CONFIG", &file)
        .output()
        .unwrap();
    let shown = text(ok(&out));
    assert!(
        shown.contains(&format!(
            "{}:1: path_remap: \"bogus\" is neither off nor auto",
            file.display()
        )),
        "{shown}"
    );
    std::fs::write(
        &file,
        "path_remap = \"auto\"\nworktree_root = \"/nonexistent-root\"\n",
    )
    .unwrap();
    let compile_with = |env: &[(&str, &str)]| {
        let mut c = sb.cmd(zccache_bin());
        c.args(["gcc", "-c", "a.c", "-o", "a.o"])
            .env("ZCCACHE_CONFIG", &file);
        for (k, v) in env {
            c.env(k, v);
        }
        ok(&c.output().unwrap());
    };
    // The root the file names is not above the cwd: remap falls back, and
    // the counter proves the file's settings reached the daemon.
    compile_with(&[]);
    let s = status(&sb);
    assert_eq!(s["remap_fallbacks"]["cwd_outside_root"], 1, "{s}");
    compile_with(&[("ZCCACHE_PATH_REMAP", "off")]);
    let s = status(&sb);
    assert_eq!(
        s["remap_fallbacks"]["cwd_outside_root"], 1,
        "the environment wins: {s}"
    );
}

#[test]
fn zccache_log_names_every_compile_that_was_not_a_hit_and_why() {
    let sb = Sandbox::new("logline");
    source(&sb);
    sb.write("t.c", "char t = __TIME__[0];\n");
    let logged = |args: &[&str]| {
        let out = sb
            .cmd(zccache_bin())
            .args(args)
            .env("ZCCACHE_LOG", "1")
            .output()
            .unwrap();
        err(&out)
    };
    assert_eq!(
        logged(&["gcc", "-c", "a.c"]),
        "zccache: miss (stored): gcc -c a.c\n"
    );
    assert_eq!(logged(&["gcc", "-c", "a.c"]), "", "a hit says nothing");
    assert_eq!(
        logged(&["gcc", "-c", "t.c"]),
        "zccache: miss (not stored: time_macro): gcc -c t.c\n"
    );
    assert!(logged(&["gcc", "-E", "a.c"])
        .starts_with("zccache: passthrough (called_for_preprocessing): gcc -E a.c\n"),);
}

#[test]
fn explain_tells_why_each_compile_missed() {
    let sb = Sandbox::new("explain");
    sb.write("b.c", "#include <h.h>\nint f(void) { return H; }\n");
    sb.write("h.h", "#define H 1\n");
    sb.write("inc/other.h", "\n");
    let cc = |opt: &str| {
        let out = sb.zccache(["gcc", opt, "-Iinc", "-I.", "-c", "b.c"]);
        ok(&out);
    };
    cc("-O2");
    cc("-O2");
    cc("-O3");
    sb.write("h.h", "#define H 2\n");
    sb.settle_work();
    cc("-O2");
    // A header of that name now exists earlier on the search path.
    sb.write("inc/h.h", "#define H 3\n");
    sb.settle_work();
    cc("-O2");
    let told = text(&z(&sb, ["explain", "b.o"]));
    let h = sb.path("h.h").display().to_string();
    let inc_h = sb.path("inc/h.h").display().to_string();
    for line in [
        "miss: first compile of this source the journal knows",
        "then compiled and stored",
        "served from the cache",
        "miss: arguments -O3 instead of -O2",
        &format!("miss: changed since it was stored: {h}"),
        &format!("miss: now exists and shadows an include: {inc_h}"),
    ] {
        assert!(told.contains(line), "missing {line:?} in:\n{told}");
    }
    let json: Value = serde_json::from_slice(&z(&sb, ["explain", "--json"]).stdout).unwrap();
    let last = json.as_array().unwrap().last().unwrap();
    assert_eq!(last["record"]["outcome"], "miss");
    assert!(z(&sb, ["explain", "nothing.c"])
        .stdout
        .starts_with(b"no compile"));
}

#[test]
fn a_failed_compile_is_no_miss_of_the_cache() {
    let sb = Sandbox::new("failed");
    sb.write("bad.c", "int f(void) { return undeclared; }\n");
    let out = sb.zccache(["gcc", "-c", "bad.c"]);
    assert_eq!(out.status.code(), Some(1));
    let s = status(&sb);
    assert_eq!(s["misses"], 0, "{s}");
    assert_eq!(s["not_stored_reasons"]["compile_failed"], 1, "{s}");
    let told = text(&z(&sb, ["explain", "bad.c"]));
    assert!(
        told.contains("then compiled, not stored: compile_failed"),
        "{told}"
    );
}

#[test]
fn a_masquerade_link_under_another_cache_compiles_directly() {
    let sb = Sandbox::new("undercache");
    source(&sb);
    let masq = sb.root.join("masq");
    std::fs::create_dir_all(&masq).unwrap();
    std::os::unix::fs::symlink(zccache_bin(), masq.join("gcc")).unwrap();
    let path = format!("{}:{}", masq.display(), std::env::var("PATH").unwrap());
    // What Meson does without CC: ccache in front of the `gcc` on PATH.
    let out = sb
        .cmd("ccache")
        .args(["gcc", "-c", "a.c", "-o", "a.o"])
        .env("PATH", &path)
        .env("CCACHE_DIR", sb.root.join("ccache"))
        .output()
        .unwrap();
    ok(&out);
    let got = sb.read("a.o");
    ok(&sb.bare("gcc", ["-c", "a.c", "-o", "a.o"]));
    assert_eq!(got, sb.read("a.o"));
    let s = status(&sb);
    assert_eq!(
        (s["hits"].as_u64(), s["misses"].as_u64()),
        (Some(0), Some(0)),
        "zccache cached under ccache: {s}"
    );
}
