//! Every hit ccache gets (issue 12): compiles that used to miss or pass through and are now served, each checked byte for byte against the plain compiler. It does not test what must stay a miss (divergence does).

use conformance::{ok, Sandbox};
use serde_json::Value;

fn status(sb: &Sandbox) -> Value {
    let out = sb.zccache(["status", "--json"]);
    serde_json::from_slice(&ok(&out).stdout).expect("JSON")
}

/// `compiler args…` through zccache and plainly: same exit code, streams
/// and object `obj`; returns the zccache hits after it.
fn same_as_plain(sb: &Sandbox, compiler: &str, args: &[&str], obj: &str) -> u64 {
    let _ = std::fs::remove_file(sb.path(obj));
    let cached = sb.zccache(std::iter::once(compiler).chain(args.iter().copied()));
    let cached_obj = std::fs::read(sb.path(obj)).ok();
    let _ = std::fs::remove_file(sb.path(obj));
    let plain = sb.bare(compiler, args);
    let plain_obj = std::fs::read(sb.path(obj)).ok();
    assert_eq!(cached.status.code(), plain.status.code(), "exit code");
    assert_eq!(cached.stdout, plain.stdout, "stdout");
    assert_eq!(
        String::from_utf8_lossy(&cached.stderr),
        String::from_utf8_lossy(&plain.stderr),
        "stderr"
    );
    assert_eq!(cached_obj, plain_obj, "{obj}");
    status(sb)["hits"].as_u64().unwrap()
}

#[test]
fn a_cpp_member_named_incbin_is_no_embed() {
    let sb = Sandbox::new("incbin-mem");
    sb.write(
        "m.cc",
        "struct R { int incbin(int n) { return n; } };\n\
         int f(R &r) { return r.incbin(4) + R().incbin (1); }\n",
    );
    let args = ["-c", "m.cc", "-o", "m.o"];
    assert_eq!(same_as_plain(&sb, "g++", &args, "m.o"), 0);
    assert_eq!(
        same_as_plain(&sb, "g++", &args, "m.o"),
        1,
        "the second is a hit"
    );
}

#[test]
fn an_entry_stored_without_a_depfile_is_replaced_by_one_with_it() {
    let sb = Sandbox::new("devnull-mf");
    sb.write("b.c", "#include \"h.h\"\nint f(void) { return H; }\n");
    sb.write("h.h", "#define H 1\n");
    let to_null = ["-c", "b.c", "-o", "b.o", "-MD", "-MF", "/dev/null"];
    let to_file = ["-c", "b.c", "-o", "b.o", "-MD", "-MF", "b.d"];
    same_as_plain(&sb, "gcc", &to_null, "b.o");
    same_as_plain(&sb, "gcc", &to_file, "b.d");
    let hits = same_as_plain(&sb, "gcc", &to_file, "b.d");
    assert_eq!(hits, 1, "the depfile compile is served the second time");
    assert_eq!(
        same_as_plain(&sb, "gcc", &to_null, "b.o"),
        2,
        "and so is /dev/null"
    );
}

#[test]
fn two_epochs_of_one_day_share_a_date_only_entry() {
    let sb = Sandbox::new("sde-day");
    sb.write("d.c", "const char *d = __DATE__;\n");
    let day = 86_400 * 20_000;
    let compile = |sde: u64| {
        let _ = std::fs::remove_file(sb.path("d.o"));
        let run = |cached: bool| {
            let mut c = if cached {
                let mut c = sb.cmd(conformance::zccache_bin());
                c.arg("gcc");
                c
            } else {
                sb.cmd("gcc")
            };
            let out = c
                .args(["-c", "d.c", "-o", "d.o"])
                .env("SOURCE_DATE_EPOCH", sde.to_string())
                .output()
                .unwrap();
            ok(&out);
            sb.read("d.o")
        };
        let cached = run(true);
        assert_eq!(cached, run(false), "SOURCE_DATE_EPOCH={sde}");
        status(&sb)["hits"].as_u64().unwrap()
    };
    assert_eq!(compile(day + 100), 0);
    assert_eq!(compile(day + 50_000), 1, "the same day: a hit");
    assert_eq!(compile(day + 86_400), 1, "the next day: a miss");
}
