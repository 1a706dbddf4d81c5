//! A hit's outputs are written by the wrapper with the caller's rights, umask and view of the file system, exactly as the compiler writes them; a client of another system passes through. Real gcc and clang, real binaries; the private mount namespaces need root (we run as root here and in CI).
//!
//! Each test compares the file system after a cached compile with the one
//! after a plain compile of the same command in the same state.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Output;

use ::frame::v1::{self, lookup_reply, request, response, unit_answer};
use conformance::{ok, Sandbox, PATIENCE};

/// The running daemon's endpoint and protocol, as it reports them (so a
/// raw request reaches a daemon of any protocol).
fn daemon_endpoint(sb: &Sandbox) -> (PathBuf, u32) {
    let status = sb.status();
    let endpoint = status["endpoint"]
        .as_str()
        .expect("status names the endpoint");
    let protocol = status["protocol_version"].as_u64().unwrap() as u32;
    (PathBuf::from(endpoint), protocol)
}

/// Runs `script` with `sh -c` in a private mount namespace (`unshare -m`),
/// in the sandbox's environment and work dir.
fn in_private_mount_ns(sb: &Sandbox, script: &str) -> Output {
    assert_eq!(router::euid(), 0, "unshare -m needs root");
    sb.cmd("unshare")
        .args(["-m", "--propagation", "private", "--", "sh", "-c", script])
        .env("ZCCACHE", conformance::zccache_bin())
        .output()
        .expect("run unshare")
}

/// Hits so far; 0 before the daemon started.
fn hits(sb: &Sandbox) -> u64 {
    let out = sb.zccache(["status", "--json"]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|s| s["hits"].as_u64())
        .unwrap_or(0)
}

/// Runs the cached compile `args` (after `reset`) until one is a hit: a
/// source written moments before a compile (its ctime) is too new to
/// store, so the first miss may store nothing.
fn warm(sb: &Sandbox, args: &[&str], reset: impl Fn()) {
    let before = hits(sb);
    conformance::wait_for("a hit", || {
        reset();
        ok(&sb.zccache(args));
        (hits(sb) > before).then_some(())
    });
}

fn reasons(sb: &Sandbox) -> serde_json::Value {
    sb.status()["passthrough_reasons"].clone()
}

#[test]
fn d1_a_sandboxed_client_cannot_get_an_object_written_into_its_read_only_dir() {
    let sb = Sandbox::new("d1ro");
    sb.write("t.c", "int f(int x) { return x * 3; }\n");
    std::fs::create_dir_all(sb.path("out")).unwrap();
    warm(&sb, &["gcc", "-c", "t.c", "-o", "out/t.o"], || {
        let _ = std::fs::remove_file(sb.path("out/t.o"));
    });
    std::fs::remove_file(sb.path("out/t.o")).unwrap();

    let read_only = "mount --bind out out && mount -o remount,bind,ro out && exec";
    let plain = in_private_mount_ns(&sb, &format!("{read_only} gcc -c t.c -o out/t.o"));
    let cached = in_private_mount_ns(
        &sb,
        &format!("{read_only} \"$ZCCACHE\" gcc -c t.c -o out/t.o"),
    );
    assert_ne!(
        plain.status.code(),
        Some(0),
        "plain gcc wrote into a read-only dir"
    );
    assert_eq!(
        cached.status.code(),
        plain.status.code(),
        "cached: {}",
        String::from_utf8_lossy(&cached.stderr)
    );
    assert!(
        !sb.path("out/t.o").exists(),
        "an object appeared that the sandboxed caller could not write"
    );
}

/// Same system, fewer rights: root without `CAP_DAC_OVERRIDE` cannot write
/// into a directory another user owns, and neither can its cached compile,
/// although the daemon (started with every capability) could.
#[test]
fn d1_a_caller_without_the_right_to_write_gets_no_object_written_for_it() {
    assert_eq!(router::euid(), 0, "dropping capabilities needs root");
    let sb = Sandbox::new("d1caps");
    sb.write("t.c", "int f(int x) { return x * 5; }\n");
    std::fs::create_dir_all(sb.path("out")).unwrap();
    warm(&sb, &["gcc", "-c", "t.c", "-o", "out/t.o"], || {
        let _ = std::fs::remove_file(sb.path("out/t.o"));
    });
    std::fs::remove_file(sb.path("out/t.o")).unwrap();
    std::os::unix::fs::chown(sb.path("out"), Some(65534), Some(65534)).unwrap();

    // The same capabilities gone for gcc alone and for the wrapper.
    let without_dac = |program: &Path, args: &[&str]| {
        sb.cmd("setpriv")
            .args(["--bounding-set", "-dac_override,-dac_read_search", "--"])
            .arg(program)
            .args(args)
            .output()
            .unwrap()
    };
    let gcc = conformance::which("gcc").unwrap();
    let plain = without_dac(&gcc, &["-c", "t.c", "-o", "out/t.o"]);
    assert_ne!(plain.status.code(), Some(0), "plain gcc wrote into out/");
    let cached = without_dac(
        &conformance::zccache_bin(),
        &["gcc", "-c", "t.c", "-o", "out/t.o"],
    );
    assert_eq!(
        cached.status.code(),
        plain.status.code(),
        "cached: {}",
        String::from_utf8_lossy(&cached.stderr)
    );
    assert!(
        !sb.path("out/t.o").exists(),
        "an object appeared that the caller had no right to write"
    );
    assert_eq!(
        sb.status()["not_stored_reasons"]["output_not_writable"],
        1,
        "the daemon's hit became a miss"
    );
}

#[test]
fn d2_a_client_in_another_mount_namespace_passes_through() {
    let sb = Sandbox::new("d2ns");
    sb.write("t.c", "int g(int x) { return x - 7; }\n");
    ok(&sb.bare("gcc", ["-c", "t.c", "-o", "ref.o"]));
    warm(&sb, &["gcc", "-c", "t.c"], || {
        let _ = std::fs::remove_file(sb.path("t.o"));
    });
    std::fs::remove_file(sb.path("t.o")).unwrap();
    let before = sb.hmp();

    let out = in_private_mount_ns(&sb, "exec \"$ZCCACHE\" gcc -c t.c");
    ok(&out);
    assert_eq!(sb.read("t.o"), sb.read("ref.o"));
    let after = sb.hmp();
    assert_eq!(after.0, before.0, "served a hit across systems");
    assert_eq!(after.2, before.2 + 1);
    assert_eq!(
        reasons(&sb)["foreign_mount_namespace"],
        1,
        "{}",
        sb.status()
    );

    // The host's own compile still hits.
    std::fs::remove_file(sb.path("t.o")).unwrap();
    ok(&sb.zccache(["gcc", "-c", "t.c"]));
    assert_eq!(sb.read("t.o"), sb.read("ref.o"));
    assert_eq!(sb.hmp().0, before.0 + 1);
}

/// One name's state: where a symlink leads, a file's bytes (by digest),
/// or nothing.
#[derive(Debug, PartialEq)]
enum State {
    Absent,
    Link(PathBuf),
    File(String),
}

fn state_of(path: &Path) -> State {
    match std::fs::symlink_metadata(path) {
        Err(_) => State::Absent,
        Ok(m) if m.file_type().is_symlink() => State::Link(std::fs::read_link(path).unwrap()),
        Ok(_) => State::File(
            blake3::hash(&std::fs::read(path).unwrap())
                .to_hex()
                .to_string(),
        ),
    }
}

/// Names a case may touch.
const NAMES: [&str; 7] = ["L", "D", "sentinel", "dsentinel", "made", "t.o", "t.s"];

fn snapshot(sb: &Sandbox) -> Vec<(&'static str, State)> {
    NAMES.iter().map(|n| (*n, state_of(&sb.path(n)))).collect()
}

/// Puts the case's names back: every one removed, then `links` (name →
/// target) and the two sentinels created.
fn reset(sb: &Sandbox, links: &[(&str, &str)]) {
    for n in NAMES {
        let _ = std::fs::remove_file(sb.path(n));
    }
    std::fs::write(sb.path("sentinel"), b"precious object\n").unwrap();
    std::fs::write(sb.path("dsentinel"), b"precious depfile\n").unwrap();
    for (name, target) in links {
        std::os::unix::fs::symlink(target, sb.path(name)).unwrap();
    }
}

/// (compiler, args, symlinks to make (name → target), whether the cached
/// compile is a hit).
type Case<'a> = (
    &'a str,
    &'a [&'a str],
    &'a [(&'a str, &'a str)],
    Option<bool>,
);

#[test]
fn d3_symlinked_outputs_after_a_hit_look_as_after_a_plain_compile() {
    let sb = Sandbox::new("d3links");
    sb.write("t.c", "int h(int x) { return x << 2; }\n");
    // (compiler, args, links, whether the cached compile is a hit; `None`:
    // the daemon answers a hit, and the wrapper leaves the output to the
    // compiler)
    let cases: &[Case] = &[
        (
            "gcc",
            &["-c", "t.c", "-o", "L"],
            &[("L", "sentinel")],
            Some(true),
        ),
        (
            "gcc",
            &["-c", "t.c", "-o", "L"],
            &[("L", "made")],
            Some(true),
        ),
        (
            "gcc",
            &["-c", "t.c", "-o", "t.o", "-MD", "-MF", "D"],
            &[("D", "dsentinel")],
            Some(true),
        ),
        (
            "gcc",
            &["-c", "t.c", "-o", "t.o", "-MD", "-MF", "D"],
            &[("D", "made")],
            Some(true),
        ),
        (
            "gcc",
            &["-S", "t.c", "-o", "L"],
            &[("L", "sentinel")],
            Some(true),
        ),
        (
            "gcc",
            &["-c", "t.c", "-o", "L"],
            &[("L", "/dev/null")],
            None,
        ),
        (
            "clang",
            &["-c", "t.c", "-o", "L"],
            &[("L", "sentinel")],
            Some(true),
        ),
        (
            "clang",
            &["-c", "t.c", "-o", "L"],
            &[("L", "made")],
            Some(true),
        ),
        (
            "clang",
            &["-S", "t.c", "-o", "L"],
            &[("L", "sentinel")],
            Some(true),
        ),
        (
            "clang",
            &["-c", "t.c", "-o", "t.o", "-MD", "-MF", "D"],
            &[("D", "dsentinel")],
            Some(true),
        ),
    ];
    for (compiler, args, links, hit) in cases {
        let what = format!("{compiler} {} with {links:?}", args.join(" "));
        reset(&sb, links);
        ok(&sb.bare(compiler, *args));
        let plain = snapshot(&sb);
        // A miss to store it (the store takes no output that is still a
        // symlink afterwards), then the compile under test.
        let mut zc_args = vec![*compiler];
        zc_args.extend(args.iter());
        warm(&sb, &zc_args, || reset(&sb, &[]));
        reset(&sb, links);
        let hits = sb.hmp().0;
        ok(&sb.zccache(&zc_args));
        if let Some(hit) = hit {
            let want = hits + u64::from(*hit);
            assert_eq!(sb.hmp().0, want, "{what}: hit expected: {hit}");
        }
        assert_eq!(snapshot(&sb), plain, "{what}");
    }
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Sends one raw Lookup (with `extra` appended to its encoding, for fields
/// this build no longer knows) from this process and returns the answer.
/// [`raw_lookup`] through its Probe round, if the daemon asks one: the
/// compiler is run for each probe as the wrapper runs it (the Lookup's
/// cwd and environment, stdin null) and the Lookup sent again.
fn raw_lookup_probed(sb: &Sandbox, mut lookup: v1::Lookup, extra: &[u8]) -> v1::LookupReply {
    use std::os::unix::ffi::OsStrExt;
    let reply = raw_lookup(sb, lookup.clone(), extra);
    let Some(lookup_reply::Outcome::Probe(probe)) = &reply.outcome else {
        return reply;
    };
    let os = |b: &[u8]| std::ffi::OsStr::from_bytes(b).to_os_string();
    lookup.probes = probe
        .runs
        .iter()
        .map(|run| {
            let out = std::process::Command::new(os(&lookup.compiler))
                .args(run.args.iter().map(|a| os(a)))
                .current_dir(os(&lookup.cwd))
                .env_clear()
                .envs(lookup.env.iter().map(|e| (os(&e.name), os(&e.value))))
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            v1::ProbeResult {
                args: run.args.clone(),
                exit_code: out.status.code().unwrap_or(-1),
                stdout: out.stdout,
                stderr: out.stderr,
            }
        })
        .collect();
    raw_lookup(sb, lookup, extra)
}

fn raw_lookup(sb: &Sandbox, lookup: v1::Lookup, extra: &[u8]) -> v1::LookupReply {
    use std::io::Write;
    // Encode through a Request, then splice `extra` into the Lookup.
    let plain = ::frame::request_frame(1, &v1::Request::new(request::Body::Lookup(lookup.clone())));
    let decoded = ::frame::decode_request(&plain).unwrap();
    assert!(matches!(decoded.body, Some(request::Body::Lookup(_))));
    let mut inner = {
        // The Request payload is: tag 1 (version), tag 2 (Lookup bytes).
        let payload = &plain.payload;
        let mut at = 0;
        let mut lookup_bytes = None;
        while at < payload.len() {
            let key = payload[at];
            at += 1;
            let mut len = 0u64;
            let mut shift = 0;
            loop {
                let b = payload[at];
                at += 1;
                len |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b & 0x80 == 0 {
                    break;
                }
            }
            if key == 0x12 {
                lookup_bytes = Some(payload[at..at + len as usize].to_vec());
                at += len as usize;
            }
        }
        lookup_bytes.expect("a Lookup in the request")
    };
    inner.extend_from_slice(extra);
    let (endpoint, protocol) = daemon_endpoint(sb);
    let mut payload = vec![0x08];
    varint(u64::from(protocol), &mut payload);
    payload.push(0x12);
    varint(inner.len() as u64, &mut payload);
    payload.extend(inner);
    let mut frame = plain;
    frame.payload = payload;
    let mut stream = UnixStream::connect(endpoint).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(&::frame::encode_frame(&frame)).unwrap();
    let reply = ::frame::read_frame(&mut stream, ::frame::MAX_FRAME).unwrap();
    match ::frame::decode_response(&reply).unwrap().body {
        Some(response::Body::Lookup(l)) => l,
        other => panic!("{other:?}"),
    }
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn d4_no_request_makes_a_setuid_file_and_outputs_get_the_callers_umask() {
    let sb = Sandbox::new("d4mode");
    sb.write("t.c", "int m(void) { return 44; }\n");
    let src = sb.path("t.c").to_str().unwrap().to_owned();
    let obj = sb.path("t.o");
    let args = ["gcc", "-c", src.as_str(), "-o", obj.to_str().unwrap()];
    warm(&sb, &args, || {
        let _ = std::fs::remove_file(&obj);
    });
    let reference = sb.read("t.o");
    std::fs::remove_file(&obj).unwrap();

    // Protocol 1's Lookup.file_mode (tag 8) set to 06755, sent from a cwd
    // the kernel confirms: whatever it answers, nothing is written.
    let gcc = conformance::which("gcc").unwrap();
    let cwd = std::env::current_dir().unwrap();
    // The environment the wrapper sent (keyed variables must agree).
    let mut env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    for name in [
        "ZCCACHE_DISABLE",
        "ZCCACHE_DAEMON_NAMESPACE",
        "SOURCE_DATE_EPOCH",
    ] {
        env.remove(name);
    }
    env.insert("LC_ALL".into(), "C".into());
    let lookup = v1::Lookup {
        env: env
            .into_iter()
            .map(|(name, value)| v1::EnvVar {
                name: name.into_bytes(),
                value: value.into_bytes(),
            })
            .collect(),
        compiler: gcc.to_str().unwrap().as_bytes().to_vec(),
        args: args[1..].iter().map(|a| a.as_bytes().to_vec()).collect(),
        cwd: cwd.to_str().unwrap().as_bytes().to_vec(),
        argv0: b"gcc".to_vec(),
        start_unix_ns: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
        ..Default::default()
    };
    let mut tag8 = vec![0x40];
    varint(0o6755, &mut tag8);
    let reply = raw_lookup_probed(&sb, lookup.clone(), &tag8);
    let Some(lookup_reply::Outcome::Units(units)) = reply.outcome else {
        panic!("{reply:?}")
    };
    let Some(unit_answer::Answer::Hit(hit)) = &units.units[0].answer else {
        panic!("{units:?}")
    };
    assert!(
        !(obj.exists() && mode_of(&obj) & 0o6000 != 0),
        "a crafted Lookup made a setuid file: {:o}",
        mode_of(&obj)
    );
    assert!(!obj.exists(), "the daemon wrote an output itself");
    assert_eq!(hit.outputs.len(), 1, "{hit:?}");

    // A cwd the kernel does not confirm passes through.
    let mut lying = lookup;
    lying.cwd = sb.work.to_str().unwrap().as_bytes().to_vec();
    let reply = raw_lookup(&sb, lying, &[]);
    let Some(lookup_reply::Outcome::Passthrough(p)) = reply.outcome else {
        panic!("{reply:?}")
    };
    assert_eq!(p.reason, "cwd_mismatch");
    assert_eq!(reasons(&sb)["cwd_mismatch"], 1);

    // Real hits: 0666 less the caller's umask, as plain gcc leaves them,
    // even over a file that was setuid.
    for umask in ["077", "022"] {
        for cached in [false, true] {
            std::fs::write(&obj, b"old").unwrap();
            std::fs::set_permissions(&obj, std::fs::Permissions::from_mode(0o6755)).unwrap();
            let run = if cached { "\"$ZCCACHE\" gcc" } else { "gcc" };
            let script = format!("umask {umask}; exec {run} -c {src} -o {}", obj.display());
            let hits = sb.hmp().0;
            ok(&sb
                .cmd("sh")
                .args(["-c", &script])
                .env("ZCCACHE", conformance::zccache_bin())
                .output()
                .unwrap());
            assert_eq!(sb.hmp().0, hits + u64::from(cached));
            let want = 0o666 & !u32::from_str_radix(umask, 8).unwrap();
            assert_eq!(mode_of(&obj), want, "umask {umask}, cached {cached}");
            assert_eq!(std::fs::metadata(&obj).unwrap().uid(), 0);
            assert_eq!(sb.read("t.o"), reference);
        }
    }
}

/// Every blob file of the store.
fn blobs(sb: &Sandbox) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(list) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in list.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("out-"))
            {
                out.push(path);
            }
        }
    }
    let mut found = vec![];
    walk(&sb.cache.join("v1/entries"), &mut found);
    found
}

/// Flips three bytes in the middle of `path`, keeping its size.
fn flip_middle(path: &Path) {
    use std::io::{Seek, SeekFrom, Write};
    let len = std::fs::metadata(path).unwrap().len();
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(len / 2)).unwrap();
    f.write_all(b"\xde\xad\xbe").unwrap();
}

#[test]
fn d5_a_corrupted_blob_is_compiled_instead_and_never_served_again() {
    // Small objects travel inline (the daemon checks them), large ones as
    // descriptors (the wrapper checks them while it copies).
    let big: String = (0..40_000).map(|i| format!("{},", i % 251)).collect();
    for (name, body) in [
        ("small", "int s(int x) { return x + 9; }\n".to_owned()),
        (
            "large",
            format!("const unsigned char big[] = {{{big}}};\nint l(void) {{ return big[7]; }}\n"),
        ),
    ] {
        let sb = Sandbox::new(&format!("d5{name}"));
        sb.write("t.c", &body);
        ok(&sb.bare("gcc", ["-c", "t.c", "-o", "ref.o"]));
        warm(&sb, &["gcc", "-c", "t.c"], || {
            let _ = std::fs::remove_file(sb.path("t.o"));
        });
        let objects: Vec<PathBuf> = blobs(&sb)
            .into_iter()
            .filter(|b| std::fs::read(b).unwrap() == sb.read("ref.o"))
            .collect();
        assert_eq!(objects.len(), 1, "{name}: one stored object");
        flip_middle(&objects[0]);
        let damaged = std::fs::read(&objects[0]).unwrap();
        std::fs::remove_file(sb.path("t.o")).unwrap();

        ok(&sb.zccache(["gcc", "-c", "t.c"]));
        assert_eq!(sb.read("t.o"), sb.read("ref.o"), "{name}: compiled instead");
        assert_eq!(sb.counter("corrupt_detected"), 1, "{name}");
        if name == "large" {
            // The wrapper found it; the daemon's hit became a miss.
            assert_eq!(sb.status()["not_stored_reasons"]["corrupt_output"], 1);
        }
        // Quarantined: the damaged bytes are nowhere in the store any more
        // (the daemon, which saw it itself, may have stored the compile).
        assert!(
            blobs(&sb)
                .iter()
                .all(|b| std::fs::read(b).unwrap() != damaged),
            "{name}: the damaged entry is still there"
        );
        for _ in 0..2 {
            std::fs::remove_file(sb.path("t.o")).unwrap();
            ok(&sb.zccache(["gcc", "-c", "t.c"]));
            assert_eq!(sb.read("t.o"), sb.read("ref.o"), "{name}");
        }
        assert_eq!(sb.counter("corrupt_detected"), 1, "{name}");
        let hits = sb.hmp().0;
        std::fs::remove_file(sb.path("t.o")).unwrap();
        ok(&sb.zccache(["gcc", "-c", "t.c"]));
        assert_eq!(
            sb.hmp().0,
            hits + 1,
            "{name}: served again once stored anew"
        );
        assert_eq!(sb.read("t.o"), sb.read("ref.o"));
    }
}
