//! End-to-end basics: a compile through the wrapper misses, then hits with
//! byte-identical outputs and replayed diagnostics.

use conformance::{ok, Sandbox};

#[test]
fn c1_compile_twice_miss_then_hit_identical_object() {
    let sb = Sandbox::new("c1");
    sb.write("t.c", "int f(int x) { return x + 1; }\n");
    ok(&sb.bare("gcc", ["-c", "t.c", "-o", "ref.o"]));
    ok(&sb.zccache(["gcc", "-c", "t.c"]));
    let first = sb.read("t.o");
    assert_eq!(first, sb.read("ref.o"));
    std::fs::remove_file(sb.path("t.o")).unwrap();
    ok(&sb.zccache(["gcc", "-c", "t.c"]));
    assert_eq!(sb.read("t.o"), first);
    let (hits, misses, _) = sb.hmp();
    assert_eq!((hits, misses), (1, 1));
}

#[test]
fn stop_returns_only_after_the_daemon_let_go_of_the_cache_root() {
    let sb = Sandbox::new("stop");
    sb.write("t.c", "int g(void) { return 2; }\n");
    ok(&sb.zccache(["gcc", "-c", "t.c"]));
    let pid = sb.status()["pid"].as_u64().unwrap();
    ok(&sb.zccache(["stop"]));
    // Nothing of the daemon's may appear in the root after stop returned.
    std::fs::remove_dir_all(&sb.cache).expect("cache root removable right after stop");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !sb.cache.exists(),
        "the stopped daemon {pid} wrote into the removed cache root"
    );
}
