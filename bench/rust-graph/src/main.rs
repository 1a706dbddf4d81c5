//! The Rust workload of bench/bench.py: touches each dependency once so the
//! graph is a real one; what it prints does not matter.
use clap::Parser;
use serde::{Deserialize, Serialize};
use sha2::Digest;

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value = "bench")]
    name: String,
}

#[derive(Serialize, Deserialize, Debug)]
struct Record {
    name: String,
    id: uuid::Uuid,
    version: semver::Version,
}

#[derive(thiserror::Error, Debug)]
enum Error {
    #[error("empty name")]
    Empty,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    if args.name.is_empty() {
        return Err(Error::Empty.into());
    }
    let rec = Record {
        name: args.name,
        id: uuid::Uuid::new_v4(),
        version: semver::Version::new(1, 2, 3),
    };
    let json = serde_json::to_string(&rec)?;
    let digest = hex::encode(sha2::Sha256::digest(json.as_bytes()));
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &digest);
    let re = regex::Regex::new(r"[0-9a-f]{8}")?;
    let mut map = indexmap::IndexMap::new();
    map.insert("digest", digest.clone());
    let total: u64 = rayon::prelude::ParallelIterator::sum(
        rayon::prelude::IntoParallelIterator::into_par_iter(0..100u64),
    );
    let lock = parking_lot::Mutex::new(smallvec::SmallVec::<[u8; 4]>::new());
    lock.lock().push(1);
    let (tx, rx) = crossbeam::channel::unbounded();
    tx.send(total)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let n = rt.block_on(async { futures::future::ready(rx.recv().unwrap_or(0)).await });
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, b64.as_bytes())?;
    let gz = enc.finish()?;
    let url = url::Url::parse("file:///tmp")?;
    let cfg: toml::Value = toml::from_str("a = 1")?;
    let now = chrono::Utc::now();
    let words = itertools::Itertools::join(&mut ["a", "b"].iter(), ",");
    let files =
        walkdir::WalkDir::new(".").max_depth(0).into_iter().count() + glob::glob("*.none")?.count();
    let x: u8 = rand::random();
    let b = bytes::Bytes::from(gz);
    tracing::info!(n, x, "done");
    log::info!("{url} {cfg} {now} {words} {files} {}", b.len());
    println!("{json} {} {}", re.is_match(&digest), map.len());
    Ok(())
}
