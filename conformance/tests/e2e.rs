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
