//! `differential`: runs the differential test (conformance/src/diff.rs) for
//! as long as you like, with a new seed unless one is given, and prints the
//! counts or the shrunk script of the first divergence. It fixes nothing
//! and keeps no state between runs.
//!
//! Usage: differential [--seed N] [--steps N] [--rounds N] [--kinds all|a,b,…]

use std::process::ExitCode;

use conformance::diff::{self, Cache, Kind};

fn main() -> ExitCode {
    let mut seed: Option<u64> = None;
    let mut steps = 500;
    let mut rounds = 1;
    let mut kinds: Vec<Kind> = Kind::ALL.to_vec();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--seed" => seed = Some(value().parse().unwrap_or_else(|_| usage("bad --seed"))),
            "--steps" => steps = value().parse().unwrap_or_else(|_| usage("bad --steps")),
            "--rounds" => rounds = value().parse().unwrap_or_else(|_| usage("bad --rounds")),
            "--kinds" => {
                kinds = match value().as_str() {
                    "all" => Kind::ALL.to_vec(),
                    list => list
                        .split(',')
                        .map(|n| {
                            Kind::from_name(n).unwrap_or_else(|| usage(&format!("no kind {n}")))
                        })
                        .collect(),
                }
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let first = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    println!("kinds: {}", names.join(","));
    let mut total = diff::Counts::default();
    let mut compiles = 0;
    for round in 0..rounds {
        let seed = first.wrapping_add(round as u64);
        let report = diff::run(seed, steps, &kinds, &Cache::zccache(), 300);
        compiles += report.outcome.compiles;
        let c = report.outcome.counts.unwrap_or_default();
        total.hits += c.hits;
        total.misses += c.misses;
        total.passthrough += c.passthrough;
        println!(
            "seed {seed}: {} compiles, hits {}, misses {}, passthrough {}",
            report.outcome.compiles, c.hits, c.misses, c.passthrough
        );
        if let Some((script, what)) = report.failure {
            println!("DIVERGENCE (seed {seed}):\n{what}\nshrunk replay script:\n{script}");
            return ExitCode::FAILURE;
        }
    }
    println!(
        "total: {compiles} compiles, 0 divergences, hits {}, misses {}, passthrough {}",
        total.hits, total.misses, total.passthrough
    );
    ExitCode::SUCCESS
}

fn usage(why: &str) -> ! {
    eprintln!("differential: {why}\nusage: differential [--seed N] [--steps N] [--rounds N] [--kinds all|a,b,...]");
    std::process::exit(2)
}
