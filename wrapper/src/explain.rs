//! `zccache explain`: reads the daemon's per-compile journal (`<root>/journal/<namespace>.jsonl` and its `.1`) and tells what happened to the last compiles, or to one source or object, and for a miss what differed from the last time that source was served or stored. It only reads the journal; the daemon writes it.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

/// How many records `explain` without a path shows.
const LAST: usize = 20;

/// The journal's records, oldest first (the rotated file, then the live
/// one); lines that do not parse are skipped.
pub(crate) fn read_journal(root: &Path, namespace: &str) -> Vec<Value> {
    let dir = root.join("journal");
    [format!("{namespace}.jsonl.1"), format!("{namespace}.jsonl")]
        .iter()
        .filter_map(|name| std::fs::read_to_string(dir.join(name)).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The records to show: the last [`LAST`], or every one about `path`
/// (a source or an output, resolved against `cwd`), each with its
/// explanation.
pub(crate) fn explain(records: &[Value], path: Option<&Path>, cwd: &Path) -> Vec<(Value, String)> {
    let chosen: Vec<usize> = match path {
        None => (records.len().saturating_sub(LAST)..records.len()).collect(),
        Some(p) => {
            let want = lexical(&cwd.join(p));
            (0..records.len())
                .filter(|&i| {
                    names(&records[i])
                        .iter()
                        .any(|n| lexical(Path::new(n)) == want)
                })
                .collect()
        }
    };
    // A miss and the record of its Store are one compile: told as one.
    let mut told = Vec::new();
    let mut folded = Vec::new();
    for &i in &chosen {
        if folded.contains(&i) {
            continue;
        }
        let mut why = story(records, i);
        if records[i]["outcome"] == "miss" {
            if let Some(j) = store_of(records, i) {
                folded.push(j);
                why = format!("{why}\n    then {}", story(records, j));
            }
        }
        told.push((records[i].clone(), why));
    }
    told
}

/// The record of the Store that followed the miss `i` (same unit), if any
/// came before the next compile of that unit.
fn store_of(records: &[Value], i: usize) -> Option<usize> {
    let key = &records[i]["manifest_key"];
    let sources = &records[i]["sources"];
    records
        .iter()
        .enumerate()
        .skip(i + 1)
        .filter(|(_, r)| &r["sources"] == sources)
        .take_while(|(_, r)| r["outcome"] != "miss" && r["outcome"] != "hit")
        .find(|(_, r)| &r["manifest_key"] == key)
        .map(|(j, _)| j)
}

/// One line per record: time, outcome, the call, and why.
pub(crate) fn show(explained: &[(Value, String)]) -> String {
    if explained.is_empty() {
        return "no compile in the journal matches\n".to_owned();
    }
    explained
        .iter()
        .map(|(r, why)| {
            let args: Vec<&str> = r["args"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let compiler = r["compiler"].as_str().unwrap_or("?");
            let name = Path::new(compiler)
                .file_name()
                .map_or(compiler.into(), |n| n.to_string_lossy());
            format!(
                "{} {} {} {}\n    {why}\n",
                clock(r["time_ms"].as_u64().unwrap_or(0)),
                r["outcome"].as_str().unwrap_or("?"),
                name,
                args.join(" ")
            )
        })
        .collect()
}

/// The paths a record is about: its sources and its output.
fn names(r: &Value) -> Vec<String> {
    let mut all: Vec<String> = r["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    if let Some(o) = r["output"].as_str().filter(|o| !o.is_empty()) {
        all.push(o.to_owned());
    }
    if all.is_empty() {
        // A compile that was never classified (a passthrough): its
        // arguments, as paths from its cwd.
        let cwd = Path::new(r["cwd"].as_str().unwrap_or("/"));
        all = r["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|a| !a.starts_with('-'))
            .map(|a| cwd.join(a).display().to_string())
            .collect();
    }
    all
}

/// Why record `i` came out as it did.
fn story(records: &[Value], i: usize) -> String {
    let r = &records[i];
    let reason = r["reason"].as_str().unwrap_or("");
    match r["outcome"].as_str().unwrap_or("") {
        "hit" => "served from the cache".to_owned(),
        "stored" => "compiled and stored".to_owned(),
        "not_stored" => format!("compiled, not stored: {reason}"),
        "passthrough" => format!("not cacheable: {reason}"),
        "undelivered" => format!("a hit that could not be written ({reason}); compiled instead"),
        "miss" => miss_story(records, i),
        other => format!("{other} {reason}"),
    }
}

fn miss_story(records: &[Value], i: usize) -> String {
    let r = &records[i];
    let why = &r["why"];
    if why["kind"] == "no_matching_entry" {
        let list = |k: &str| -> Vec<String> {
            why[k]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        let mut parts = Vec::new();
        let changed = list("changed");
        if !changed.is_empty() {
            parts.push(format!(
                "changed since it was stored: {}",
                changed.join(", ")
            ));
        }
        let appeared = list("appeared");
        if !appeared.is_empty() {
            parts.push(format!(
                "now exists and shadows an include: {}",
                appeared.join(", ")
            ));
        }
        if why["other_root"] == true {
            parts.push("the stored result embeds another worktree's path".to_owned());
        }
        if parts.is_empty() {
            parts.push("stored before, but no stored result matches".to_owned());
        }
        return format!("miss: {}", parts.join("; "));
    }
    let sources = r["sources"].clone();
    let before = records[..i]
        .iter()
        .rev()
        .find(|p| p["sources"] == sources && p["inputs"].is_object() && p["outcome"] != "miss");
    match before {
        None => "miss: first compile of this source the journal knows".to_owned(),
        Some(p) => {
            let diff = differences(&p["inputs"], &r["inputs"]);
            if diff.is_empty() {
                "miss: same inputs as the last time it was served or stored (evicted or cleared)"
                    .to_owned()
            } else {
                format!("miss: {}", diff.join("; "))
            }
        }
    }
}

/// What differs between two records' key inputs: the compiler, arguments
/// added or removed, environment variables added, removed or changed.
fn differences(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if old["compiler"] != new["compiler"] {
        out.push("the compiler changed (its identity by content)".to_owned());
    }
    if old["source"] != new["source"] {
        out.push("the source changed".to_owned());
    }
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    let (a, b) = (strings(&old["args"]), strings(&new["args"]));
    let added: Vec<&String> = b.iter().filter(|x| !a.contains(x)).collect();
    let removed: Vec<&String> = a.iter().filter(|x| !b.contains(x)).collect();
    if !added.is_empty() || !removed.is_empty() {
        let show = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
        out.push(match (added.is_empty(), removed.is_empty()) {
            (false, false) => format!("arguments {} instead of {}", show(&added), show(&removed)),
            (false, true) => format!("arguments added: {}", show(&added)),
            _ => format!("arguments removed: {}", show(&removed)),
        });
    } else if a != b {
        out.push("the arguments are in another order".to_owned());
    }
    let pairs = |v: &Value| -> Vec<(String, String)> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p[0].as_str()?.to_owned(), p[1].as_str()?.to_owned())))
            .collect()
    };
    let (ea, eb) = (pairs(&old["env"]), pairs(&new["env"]));
    for (k, v) in &eb {
        match ea.iter().find(|(ok, _)| ok == k) {
            None => out.push(format!("environment variable {k} set")),
            Some((_, ov)) if ov != v => out.push(format!("environment variable {k} changed")),
            _ => {}
        }
    }
    for (k, _) in &ea {
        if !eb.iter().any(|(nk, _)| nk == k) {
            out.push(format!("environment variable {k} unset"));
        }
    }
    out
}

/// `p` without `.` components and with `..` folded, as a record spells
/// paths.
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `HH:MM:SS` (UTC) of a time in milliseconds.
fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600 % 24, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(outcome: &str, args: &[&str], env: &[(&str, &str)], why: Value) -> Value {
        serde_json::json!({
            "time_ms": 3_723_000, "outcome": outcome, "reason": "", "cwd": "/w",
            "compiler": "/usr/bin/gcc", "args": args, "sources": ["/w/a.c"], "output": "/w/a.o",
            "inputs": {"compiler": "c1", "args": args,
                       "env": env.iter().map(|(k, v)| serde_json::json!([k, v])).collect::<Vec<_>>()},
            "why": why,
        })
    }

    #[test]
    fn a_miss_is_told_by_what_differs_from_the_last_served_compile() {
        let records = vec![
            rec(
                "stored",
                &["-O2", "-c", "a.c"],
                &[("CPATH", "h1")],
                Value::Null,
            ),
            rec(
                "miss",
                &["-O3", "-c", "a.c"],
                &[("CPATH", "h2"), ("TZ", "h3")],
                serde_json::json!({"kind": "no_manifest"}),
            ),
            rec(
                "miss",
                &["-O2", "-c", "a.c"],
                &[("CPATH", "h1")],
                serde_json::json!({"kind": "no_matching_entry", "changed": ["/w/a.h"],
                                   "appeared": ["/w/inc/b.h"], "other_root": false}),
            ),
        ];
        let all = explain(&records, Some(Path::new("a.o")), Path::new("/w"));
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].1, "compiled and stored");
        let mut with_store = records.clone();
        let mut stored = records[1].clone();
        stored["outcome"] = "not_stored".into();
        stored["reason"] = "compile_failed".into();
        with_store.insert(2, stored);
        let folded = explain(&with_store, Some(Path::new("a.c")), Path::new("/w"));
        assert_eq!(folded.len(), 3, "the Store's record is told with its miss");
        assert!(folded[1]
            .1
            .ends_with("\n    then compiled, not stored: compile_failed"));
        assert_eq!(
            all[1].1,
            "miss: arguments -O3 instead of -O2; environment variable CPATH changed; \
             environment variable TZ set"
        );
        assert_eq!(
            all[2].1,
            "miss: changed since it was stored: /w/a.h; now exists and shadows an include: /w/inc/b.h"
        );
        let shown = show(&all[..1]);
        assert_eq!(
            shown,
            "01:02:03 stored gcc -O2 -c a.c\n    compiled and stored\n"
        );
        assert!(explain(&records, Some(Path::new("b.c")), Path::new("/w")).is_empty());
        let first = explain(&records[1..2], None, Path::new("/w"));
        assert_eq!(
            first[0].1,
            "miss: first compile of this source the journal knows"
        );
    }
}
