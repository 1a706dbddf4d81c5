//! `ZCCACHE_PROFILE`: the wall time of each step of one compile, in µs, as one line on stderr (`1`) or appended to a file (an absolute path), written when the wrapper ends; it measures and prints only, it changes no step and never fails a compile.
//!
//! Steps are laps: each `lap(step)` charges the time since the previous
//! lap (or since `main` began) to `step`, so the steps add up to the
//! whole. The process start-up before `main` (exec, dynamic loading, the
//! Rust runtime) cannot be seen from inside; `bench/steps.sh` measures it
//! against `/bin/true` and a hello-world Rust binary.

use std::cell::RefCell;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// The environment variable that turns it on.
pub(crate) const ENV: &str = "ZCCACHE_PROFILE";

/// Where the line goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sink {
    Stderr,
    File(PathBuf),
}

struct Laps {
    sink: Sink,
    began: Instant,
    last: Instant,
    steps: Vec<(&'static str, u128)>,
}

thread_local! {
    static LAPS: RefCell<Option<Laps>> = const { RefCell::new(None) };
}

/// `ZCCACHE_PROFILE`'s value as a sink: unset, empty or `0` is off, an
/// absolute path is a file, anything else stderr.
fn sink_of(value: Option<OsString>) -> Option<Sink> {
    let value = value.filter(|v| !v.is_empty() && v != "0")?;
    let path = PathBuf::from(value);
    Some(if path.is_absolute() {
        Sink::File(path)
    } else {
        Sink::Stderr
    })
}

/// Starts the clock when `ZCCACHE_PROFILE` asks for it; first thing in
/// `main`.
pub(crate) fn start() {
    if let Some(sink) = sink_of(std::env::var_os(ENV)) {
        let now = Instant::now();
        LAPS.with(|l| {
            *l.borrow_mut() = Some(Laps {
                sink,
                began: now,
                last: now,
                steps: Vec::new(),
            })
        });
    }
}

/// Charges the time since the last lap to `step`.
pub(crate) fn lap(step: &'static str) {
    LAPS.with(|l| {
        if let Some(laps) = l.borrow_mut().as_mut() {
            let now = Instant::now();
            laps.steps
                .push((step, now.duration_since(laps.last).as_micros()));
            laps.last = now;
        }
    });
}

/// The line: `zccache profile: how=<outcome> step=µs ... total=µs`.
fn line(how: &str, laps: &Laps, now: Instant) -> String {
    let mut line = format!("zccache profile: how={how}");
    for (step, us) in &laps.steps {
        line.push_str(&format!(" {step}={us}"));
    }
    line.push_str(&format!(
        " total={}",
        now.duration_since(laps.began).as_micros()
    ));
    line
}

/// Ends the profile with the last lap `step` and writes the line; `how`
/// says how the compile ended (hit, miss, passthrough, fallback). Called
/// once, right before the process exits or execs; a write that fails is
/// dropped.
pub(crate) fn finish(step: &'static str, how: &str) {
    lap(step);
    let Some(laps) = LAPS.with(|l| l.borrow_mut().take()) else {
        return;
    };
    let line = line(how, &laps, Instant::now());
    match &laps.sink {
        Sink::Stderr => eprintln!("{line}"),
        Sink::File(path) => {
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_chooses_the_sink() {
        assert_eq!(sink_of(None), None);
        assert_eq!(sink_of(Some("".into())), None);
        assert_eq!(sink_of(Some("0".into())), None);
        assert_eq!(sink_of(Some("1".into())), Some(Sink::Stderr));
        assert_eq!(
            sink_of(Some("/tmp/p.log".into())),
            Some(Sink::File("/tmp/p.log".into()))
        );
    }

    #[test]
    fn steps_add_up_to_the_total() {
        let began = Instant::now();
        let laps = Laps {
            sink: Sink::Stderr,
            began,
            last: began,
            steps: vec![("config", 10), ("connect", 20)],
        };
        let l = line("hit", &laps, began + std::time::Duration::from_micros(35));
        assert_eq!(l, "zccache profile: how=hit config=10 connect=20 total=35");
    }
}
