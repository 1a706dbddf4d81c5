//! How the command line shows what the daemons and the broker answer: the stats summary, the full status table, the daemons table, release reports, the settings table; pure text from JSON, no I/O.

use std::path::Path;

use serde_json::Value;

/// Keys shown first, in this order; the rest follow sorted.
const STATUS_ORDER: [&str; 14] = [
    "version",
    "protocol_version",
    "pid",
    "endpoint",
    "cache_root",
    "namespace",
    "hits",
    "misses",
    "cross_root_hits",
    "passthrough",
    "passthrough_reasons",
    "errors",
    "entries",
    "bytes",
];

/// Every setting: its value, where it came from and what it does; then
/// the files looked at, and what was wrong in them.
pub(crate) fn config_table(s: &settings::Settings) -> String {
    let rows: Vec<[String; 3]> = s
        .iter()
        .map(|x| [x.spec.key.to_owned(), x.shown(), x.origin.to_string()])
        .collect();
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r[1].chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for [key, value, origin] in &rows {
        out.push_str(&format!("{key:w0$}  {value:w1$}  ({origin})\n"));
    }
    for f in &s.files {
        let state = if f.exists() { "read" } else { "absent" };
        out.push_str(&format!("config file {} ({state})\n", f.display()));
    }
    for e in &s.errors {
        out.push_str(&format!("error: {e}\n"));
    }
    out
}

/// One line per root and namespace the broker routes no daemon for.
pub(crate) fn refusal_lines(json: &str) -> String {
    let Ok(Value::Array(list)) = serde_json::from_str::<Value>(json) else {
        return String::new();
    };
    list.iter()
        .map(|r| {
            format!(
                "not served: {} ({}): {} ({})\n",
                cell(&r["cache_root"]),
                cell(&r["namespace"]),
                cell(&r["detail"]),
                cell(&r["refused"])
            )
        })
        .collect()
}

/// The daemon's status object as an aligned two-column table; nested
/// objects (the passthrough reasons) are listed indented below their key.
/// Anything that is not a JSON object is shown as it came.
pub(crate) fn status_table(json: &str) -> String {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(json) else {
        return format!("{json}\n");
    };
    let mut keys: Vec<&String> = STATUS_ORDER
        .iter()
        .filter_map(|k| map.get_key_value(*k).map(|(k, _)| k))
        .collect();
    let mut rest: Vec<&String> = map
        .keys()
        .filter(|k| !STATUS_ORDER.contains(&k.as_str()))
        .collect();
    rest.sort();
    keys.extend(rest);
    let width = keys.iter().map(|k| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for key in keys {
        match &map[key.as_str()] {
            Value::Object(inner) if !inner.is_empty() => {
                out.push_str(key);
                out.push('\n');
                let inner_width = inner.keys().map(String::len).max().unwrap_or(0);
                for (name, value) in inner {
                    out.push_str(&format!("  {name:inner_width$}  {}\n", cell(value)));
                }
            }
            value => out.push_str(&format!("{key:width$}  {}\n", cell(value))),
        }
    }
    out
}

/// The broker's array of daemon status objects as an aligned table, one
/// row per daemon; the header alone when there are none.
pub(crate) fn daemons_table(json: &str) -> String {
    const HEADER: [&str; 8] = [
        "CACHE ROOT",
        "NAMESPACE",
        "PID",
        "UPTIME",
        "HITS",
        "MISSES",
        "ENTRIES",
        "BYTES",
    ];
    let Ok(Value::Array(daemons)) = serde_json::from_str::<Value>(json) else {
        return format!("{json}\n");
    };
    let number = |d: &Value, k: &str| d[k].as_u64().map_or("-".to_owned(), |n| n.to_string());
    let mut rows: Vec<[String; 8]> = vec![HEADER.map(str::to_owned)];
    for d in &daemons {
        rows.push([
            cell(&d["cache_root"]),
            cell(&d["namespace"]),
            number(d, "pid"),
            d["uptime_secs"].as_u64().map_or("-".to_owned(), uptime),
            number(d, "hits"),
            number(d, "misses"),
            number(d, "entries"),
            d["bytes"].as_u64().map_or("-".to_owned(), size),
        ]);
    }
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, (text, width)) in row.iter().zip(&widths).enumerate() {
            let pad = width - text.chars().count();
            // Text columns are left-aligned, numbers right-aligned.
            if i < 2 {
                line.push_str(text);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str(&" ".repeat(pad));
                line.push_str(text);
            }
            line.push_str("  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// What each daemon released under `path`, one line per daemon, from the
/// broker's array of daemon reports.
pub(crate) fn release_report(json: &str, path: &Path) -> String {
    let Ok(Value::Array(daemons)) = serde_json::from_str::<Value>(json) else {
        return format!("{json}\n");
    };
    if daemons.is_empty() {
        return format!(
            "no daemon running; nothing is held under {}\n",
            path.display()
        );
    }
    let mut out = String::new();
    for d in &daemons {
        out.push_str(&format!(
            "{} ({}) pid {}: ",
            cell(&d["cache_root"]),
            cell(&d["namespace"]),
            cell(&d["pid"])
        ));
        if let Some(refused) = d["refused"].as_str() {
            out.push_str(&format!("refused: {refused}\n"));
            continue;
        }
        if let Some(error) = d["error"].as_str() {
            out.push_str(&format!("not released: {error}\n"));
            continue;
        }
        let released: Vec<String> = d["released"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, n)| n.as_u64() != Some(0))
            .map(|(what, n)| format!("{} {}", cell(n), what.replace('_', " ")))
            .collect();
        if released.is_empty() {
            out.push_str("released nothing");
        } else {
            out.push_str(&format!("released {}", released.join(", ")));
        }
        let held: Vec<String> = d["held"]
            .as_array()
            .into_iter()
            .flatten()
            .map(cell)
            .collect();
        if held.is_empty() {
            out.push_str("; holds nothing there\n");
        } else {
            out.push_str(&format!("; still holds {}\n", held.join(", ")));
        }
    }
    out
}

/// The daemon's status object as a person reads it first: the hit rate of
/// cacheable compiles, C and Rust apart, what was not cached or not stored
/// by reason (most frequent first), and the size against the limit.
pub(crate) fn stats_summary(json: &str) -> String {
    let Ok(Value::Object(m)) = serde_json::from_str::<Value>(json) else {
        return format!("{json}\n");
    };
    let f = |k: &str| m.get(k).unwrap_or(&Value::Null);
    let n = |k: &str| f(k).as_u64().unwrap_or(0);
    let (hits, misses) = (n("hits"), n("misses"));
    let (rust_hits, rust_misses) = (n("rust_hits"), n("rust_misses"));
    let mut rows: Vec<(&str, String)> = vec![(
        "cache root",
        format!(
            "{} ({}), daemon pid {}, up {}",
            cell(f("cache_root")),
            cell(f("namespace")),
            cell(f("pid")),
            uptime(n("uptime_secs"))
        ),
    )];
    let rate = match hits + misses {
        0 => "- (no cacheable compile yet)".to_owned(),
        all => format!(
            "{:.1} %  ({hits} of {all} cacheable compiles)",
            hits as f64 * 100.0 / all as f64
        ),
    };
    rows.push(("hit rate", rate));
    rows.push((
        "  C, C++, emcc",
        hits_and_misses(
            hits.saturating_sub(rust_hits),
            misses.saturating_sub(rust_misses),
        ),
    ));
    rows.push(("  Rust", hits_and_misses(rust_hits, rust_misses)));
    rows.push((
        "  worktrees",
        format!(
            "{} from entries another worktree stored",
            count(n("cross_root_hits"), "hit", "hits")
        ),
    ));
    if let Some(remote) = f("remote").as_object() {
        rows.push(("remote", remote_line(remote)));
    }
    rows.push((
        "not cacheable",
        by_reason(n("passthrough"), f("passthrough_reasons")),
    ));
    let not_stored = f("not_stored_reasons")
        .as_object()
        .map_or(0, |r| r.values().filter_map(Value::as_u64).sum());
    rows.push(("not stored", by_reason(not_stored, f("not_stored_reasons"))));
    let limit = m.get("max_size").and_then(Value::as_u64);
    rows.push((
        "cache size",
        format!(
            "{}{} ({} entries)",
            size(n("bytes")),
            limit.map_or(String::new(), |l| format!(" of {}", size(l))),
            n("entries")
        ),
    ));
    rows.push(("errors", n("errors").to_string()));
    if let Some(log) = f("log").as_str() {
        rows.push(("daemon log", log.to_owned()));
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out: String = rows
        .iter()
        .map(|(k, v)| format!("{k:width$}  {v}\n"))
        .collect();
    if let Some(errors) = f("config_errors").as_array().filter(|e| !e.is_empty()) {
        for e in errors {
            out.push_str(&format!("config error: {}\n", cell(e)));
        }
    }
    out.push_str("(zccache -sv: every counter; zccache status --json: the same, exact)\n");
    out
}

/// The remote tier in one line: where, how, and what it answered.
fn remote_line(r: &serde_json::Map<String, Value>) -> String {
    let n = |k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0);
    let text = |k: &str| r.get(k).map(cell).unwrap_or_default();
    let refused = n("bad_signatures") + n("corrupt");
    format!(
        "{} ({}): {} ({} without entry), {} errors, {} timeouts, {refused} refused, \
         breaker open {} ms; {} published, {} publish errors",
        text("target"),
        text("mode"),
        hits_and_misses(n("hits"), n("misses")),
        n("manifest_without_entry"),
        n("errors"),
        n("timeouts"),
        n("breaker_open_ms"),
        n("published"),
        n("publish_errors"),
    )
}

fn hits_and_misses(hits: u64, misses: u64) -> String {
    format!(
        "{}, {}",
        count(hits, "hit", "hits"),
        count(misses, "miss", "misses")
    )
}

fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `total`, then each reason with its count, most frequent first.
fn by_reason(total: u64, reasons: &Value) -> String {
    let mut list: Vec<(&String, u64)> = reasons
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k, v.as_u64()?)))
        .filter(|(_, v)| *v > 0)
        .collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let named: Vec<String> = list.iter().map(|(k, v)| format!("{k} {v}")).collect();
    if named.is_empty() {
        return total.to_string();
    }
    format!("{total}: {}", named.join(", "))
}

/// `3h04m`, `12m05s`, `45s`, `2d03h`.
fn uptime(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s:02}s"),
        (0, _, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h:02}h"),
    }
}

/// Bytes in binary units with one decimal, exact below 1 KiB.
fn size(bytes: u64) -> String {
    settings::show_size(bytes)
}

fn cell(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        Value::Object(m) if m.is_empty() => "-".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(json: &str, expected: &str) {
        assert_eq!(status_table(json), expected);
    }

    #[test]
    fn status_tables() {
        check(
            r#"{"misses":2,"hits":5,"zzz":true,"version":"0.1.0","namespace":"default",
                "passthrough_reasons":{"preprocessor_only":3,"linking":1},"passthrough":4,
                "cache_root":"/c","aaa":null,"list":[1,2]}"#,
            "\
version              0.1.0
cache_root           /c
namespace            default
hits                 5
misses               2
passthrough          4
passthrough_reasons
  linking            1
  preprocessor_only  3
aaa                  -
list                 [1,2]
zzz                  true
",
        );
        check(
            r#"{"hits":0,"passthrough_reasons":{}}"#,
            "hits                 0\npassthrough_reasons  -\n",
        );
        check("[1,2]", "[1,2]\n");
        check("not json", "not json\n");
    }

    #[test]
    fn daemon_tables() {
        #[track_caller]
        fn check(json: &str, expected: &str) {
            assert_eq!(daemons_table(json), expected);
        }
        let header = "CACHE ROOT  NAMESPACE  PID  UPTIME  HITS  MISSES  ENTRIES  BYTES\n";
        check("[]", header);
        check(
            r#"[{"cache_root":"/home/u/.cache/zccache","namespace":"default","pid":4242,
                 "uptime_secs":3725,"hits":10,"misses":2,"entries":12,"bytes":1536},
                {"cache_root":"/c","namespace":"ci","pid":7,"uptime_secs":5,
                 "hits":0,"misses":0,"entries":0,"bytes":0}]"#,
            "\
CACHE ROOT              NAMESPACE   PID  UPTIME  HITS  MISSES  ENTRIES    BYTES
/home/u/.cache/zccache  default    4242   1h02m    10       2       12  1.5 KiB
/c                      ci            7      5s     0       0        0      0 B
",
        );
        check(
            r#"[{"cache_root":"/c"}]"#,
            "\
CACHE ROOT  NAMESPACE  PID  UPTIME  HITS  MISSES  ENTRIES  BYTES
/c          -            -       -     -       -        -      -
",
        );
        check("{}", "{}\n");
    }

    #[test]
    fn refusal_tables() {
        assert_eq!(refusal_lines(""), "");
        assert_eq!(refusal_lines("[]"), "");
        assert_eq!(
            refusal_lines(
                r#"[{"cache_root":"/c","namespace":"a","refused":"daemon_backoff",
                     "detail":"the daemon keeps exiting"}]"#
            ),
            "not served: /c (a): the daemon keeps exiting (daemon_backoff)\n"
        );
    }

    #[test]
    fn release_reports() {
        #[track_caller]
        fn check(json: &str, expected: &str) {
            assert_eq!(release_report(json, Path::new("/w")), expected);
        }
        check("[]", "no daemon running; nothing is held under /w\n");
        check(
            r#"[{"cache_root":"/c","namespace":"a","pid":1,
                 "released":{"metadata_entries":3,"manifests":0,"scans":2,"watches":0},
                 "held":[],"refused":null},
                {"cache_root":"/c","namespace":"b","pid":2,"released":{},"held":["/w/x.c"]},
                {"cache_root":"/w/c","namespace":"default","pid":3,"released":{},"held":[],
                 "refused":"/w/c lies under /w: stop this daemon instead"},
                {"cache_root":"/d","namespace":"default","pid":4,"error":"no answer within 10000 ms"}]"#,
            "\
/c (a) pid 1: released 3 metadata entries, 2 scans; holds nothing there
/c (b) pid 2: released nothing; still holds /w/x.c
/w/c (default) pid 3: refused: /w/c lies under /w: stop this daemon instead
/d (default) pid 4: not released: no answer within 10000 ms
",
        );
        check("oops", "oops\n");
    }

    #[test]
    fn config_tables_never_show_a_secret_or_a_url_password() {
        let env = |name: &str| match name {
            "ZCCACHE_REMOTE_KEY" => Some("hunter2".into()),
            "ZCCACHE_REMOTE" => Some("redis://ci:hunter3@cache:6379/0".into()),
            _ => None,
        };
        let table = config_table(&settings::Settings::resolve(&env, &[]));
        assert!(!table.contains("hunter"), "{table}");
        let line = |key: &str| {
            table
                .lines()
                .find(|l| l.starts_with(&format!("{key} ")))
                .unwrap_or_default()
                .to_owned()
        };
        assert!(line("remote_key").contains("(set)"), "{table}");
        assert!(
            line("remote").contains("redis://ci:***@cache:6379/0"),
            "{table}"
        );
    }

    #[test]
    fn stats_summaries() {
        let json = r#"{"cache_root":"/c","namespace":"default","pid":7,"uptime_secs":65,
            "hits":5,"misses":3,"rust_hits":2,"rust_misses":0,"cross_root_hits":1,
            "passthrough":4,"passthrough_reasons":{"called_for_link":3,"no_input_file":1},
            "not_stored_reasons":{"compile_failed":1},"errors":0,"entries":12,
            "bytes":1536,"max_size":10737418240,"config_errors":["/c/zccache.toml:1: x: unknown key"]}"#;
        assert_eq!(
            stats_summary(json),
            "\
cache root      /c (default), daemon pid 7, up 1m05s
hit rate        62.5 %  (5 of 8 cacheable compiles)
  C, C++, emcc  3 hits, 3 misses
  Rust          2 hits, 0 misses
  worktrees     1 hit from entries another worktree stored
not cacheable   4: called_for_link 3, no_input_file 1
not stored      1: compile_failed 1
cache size      1.5 KiB of 10.0 GiB (12 entries)
errors          0
config error: /c/zccache.toml:1: x: unknown key
(zccache -sv: every counter; zccache status --json: the same, exact)
"
        );
        assert!(stats_summary(r#"{"hits":0}"#).contains("- (no cacheable compile yet)"));
        let remote = stats_summary(
            r#"{"hits":1,"remote":{"target":"redis://h:1/0","mode":"read-only","hits":4,
            "misses":2,"manifest_without_entry":1,"errors":3,"timeouts":5,"bad_signatures":1,
            "corrupt":1,"breaker_open_ms":250,"published":0,"publish_errors":0}}"#,
        );
        assert!(
            remote.contains(
                "remote          redis://h:1/0 (read-only): 4 hits, 2 misses (1 without entry), \
                 3 errors, 5 timeouts, 2 refused, breaker open 250 ms; 0 published, 0 publish errors\n"
            ),
            "{remote}"
        );
        assert!(!stats_summary(r#"{"hits":1}"#).contains("remote"));
        assert_eq!(stats_summary("nope"), "nope\n");
    }

    #[test]
    fn uptimes_and_sizes() {
        for (secs, text) in [
            (0, "0s"),
            (59, "59s"),
            (60, "1m00s"),
            (3599, "59m59s"),
            (3600, "1h00m"),
            (86_399, "23h59m"),
            (86_400 * 3 + 3600 * 5, "3d05h"),
        ] {
            assert_eq!(uptime(secs), text, "{secs}");
        }
        for (bytes, text) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (5 * 1024 * 1024 + 512 * 1024, "5.5 MiB"),
            (u64::MAX, "16.0 EiB"),
        ] {
            assert_eq!(size(bytes), text, "{bytes}");
        }
    }
}
