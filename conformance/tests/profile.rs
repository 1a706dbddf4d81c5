//! The per-step costs of a hit (issue 16): `ZCCACHE_PROFILE` prints the wrapper's steps of a real gcc hit, to stderr or a file, and `status` sums where the daemon's time on Lookups went. It checks that the figures are there and add up, not how large they are (no test depends on a timing).

use conformance::{ok, Sandbox};
use serde_json::Value;

/// The wrapper's steps of a hit, in the order they happen.
const STEPS: [&str; 11] = [
    "config", "resolve", "place", "request", "connect", "encode", "send", "reply", "decode",
    "serve", "total",
];

/// Hits so far; 0 before the daemon started.
fn hits(sb: &Sandbox) -> u64 {
    let out = sb.zccache(["status", "--json"]);
    serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|s| s["hits"].as_u64())
        .unwrap_or(0)
}

/// Compiles `t.c` through zccache until one is a hit (a source written a
/// moment ago may be too new to store).
fn warm(sb: &Sandbox) {
    let before = hits(sb);
    conformance::wait_for("a hit", || {
        ok(&sb.zccache(["gcc", "-c", "t.c", "-o", "t.o"]));
        (hits(sb) > before).then_some(())
    });
}

/// The `name=µs` fields of a profile line, after checking its prefix.
fn fields(line: &str) -> Vec<(String, String)> {
    let rest = line
        .strip_prefix("zccache profile: ")
        .unwrap_or_else(|| panic!("not a profile line: {line:?}"));
    rest.split(' ')
        .map(|f| {
            let (k, v) = f.split_once('=').expect("name=value");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn a_hit_prints_each_step_and_the_daemon_sums_its_own() {
    let sb = Sandbox::new("profile");
    sb.write("t.c", "int f(int x) { return x * 5; }\n");
    warm(&sb);
    let lookups = |sb: &Sandbox| -> Value { sb.status()["lookup_profile"].clone() };
    let before = lookups(&sb);

    // To stderr: one line, nothing else, the object written.
    let out = sb
        .cmd(conformance::zccache_bin())
        .args(["gcc", "-c", "t.c", "-o", "t.o"])
        .env("ZCCACHE_PROFILE", "1")
        .output()
        .unwrap();
    ok(&out);
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let f = fields(lines[0]);
    assert_eq!(f[0], ("how".to_owned(), "served".to_owned()));
    let names: Vec<&str> = f[1..].iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, STEPS);
    let us: Vec<u64> = f[1..].iter().map(|(_, v)| v.parse().unwrap()).collect();
    let (steps, total) = us.split_at(us.len() - 1);
    // Each step is rounded down to a µs, so the sum may fall short of
    // the total by at most one per step, never exceed it.
    let sum: u64 = steps.iter().sum();
    assert!(
        sum <= total[0] && total[0] <= sum + steps.len() as u64,
        "{us:?}"
    );
    assert!(std::fs::metadata(sb.path("t.o")).unwrap().len() > 0);

    // To a file: appended there, stderr stays empty.
    let file = sb.path("profile.log");
    for _ in 0..2 {
        let out = sb
            .cmd(conformance::zccache_bin())
            .args(["gcc", "-c", "t.c", "-o", "t.o"])
            .env("ZCCACHE_PROFILE", &file)
            .output()
            .unwrap();
        ok(&out);
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    for line in text.lines() {
        assert_eq!(fields(line)[0].1, "served");
    }

    // Off: nothing printed.
    let out = sb
        .cmd(conformance::zccache_bin())
        .args(["gcc", "-c", "t.c", "-o", "t.o"])
        .env("ZCCACHE_PROFILE", "0")
        .output()
        .unwrap();
    ok(&out);
    assert!(out.stderr.is_empty());

    // The daemon counted the four Lookups and the time of each part.
    let after = lookups(&sb);
    let count = |v: &Value| v["count"].as_u64().expect("a count");
    assert_eq!(count(&after) - count(&before), 4, "{after}");
    for part in [
        "decode_ns",
        "queue_ns",
        "view_ns",
        "engine_ns",
        "journal_ns",
        "back_ns",
        "send_ns",
    ] {
        let (b, a) = (before[part].as_u64(), after[part].as_u64());
        assert!(a.is_some() && a >= b, "{part}: {before} then {after}");
    }
    assert!(after["engine_ns"].as_u64() > before["engine_ns"].as_u64());
}
