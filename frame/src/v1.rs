//! Rust types for `proto/zccache.proto` (package `zccache.v1`), written by hand to match it tag for tag; no I/O, and no conversions from daemon, router or wrapper types.
//!
//! The shapes and names are the ones `prost-build` would generate (oneofs
//! in a snake_case module named after their message), so the `.proto`
//! stays the documentation of every field. A test in `tests/schema.rs`
//! parses the `.proto` and proves the two agree. Conversions from domain
//! types belong in the crate that owns those types.

/// Every request carries the sender's protocol version; see
/// [`crate::check_request_version`].
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Request {
    #[prost(uint32, tag = "1")]
    pub protocol_version: u32,
    #[prost(oneof = "request::Body", tags = "2, 3, 4, 5, 6, 7, 8, 9, 10")]
    pub body: ::core::option::Option<request::Body>,
}

/// Nested types of [`Request`].
pub mod request {
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Body {
        #[prost(message, tag = "2")]
        Lookup(super::Lookup),
        #[prost(message, tag = "3")]
        Store(super::Store),
        #[prost(message, tag = "4")]
        Route(super::Route),
        #[prost(message, tag = "5")]
        Status(super::StatusRequest),
        #[prost(message, tag = "6")]
        Clear(super::ClearRequest),
        #[prost(message, tag = "7")]
        ZeroStats(super::ZeroStatsRequest),
        #[prost(message, tag = "8")]
        ReleaseHandles(super::ReleaseHandlesRequest),
        #[prost(message, tag = "9")]
        Shutdown(super::ShutdownRequest),
        #[prost(message, tag = "10")]
        Undelivered(super::Undelivered),
    }
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Response {
    #[prost(oneof = "response::Body", tags = "1, 2, 3, 4, 5, 6, 7, 8")]
    pub body: ::core::option::Option<response::Body>,
}

/// Nested types of [`Response`].
pub mod response {
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Body {
        #[prost(message, tag = "1")]
        Lookup(super::LookupReply),
        #[prost(message, tag = "2")]
        Store(super::StoreReply),
        #[prost(message, tag = "3")]
        Route(super::RouteReply),
        #[prost(message, tag = "4")]
        Status(super::StatusReply),
        #[prost(message, tag = "5")]
        Ack(super::Ack),
        #[prost(message, tag = "6")]
        ReleaseHandles(super::ReleaseHandlesReply),
        #[prost(message, tag = "7")]
        Error(super::Error),
        #[prost(message, tag = "8")]
        VersionMismatch(super::VersionMismatch),
    }
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct EnvVar {
    #[prost(bytes = "vec", tag = "1")]
    pub name: ::prost::alloc::vec::Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub value: ::prost::alloc::vec::Vec<u8>,
}

/// wrapper -> daemon: one per compiler invocation.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Lookup {
    /// Absolute path of the real compiler.
    #[prost(bytes = "vec", tag = "1")]
    pub compiler: ::prost::alloc::vec::Vec<u8>,
    /// argv\[1..\] exactly as the build gave them.
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub args: ::prost::alloc::vec::Vec<::prost::alloc::vec::Vec<u8>>,
    #[prost(bytes = "vec", tag = "3")]
    pub cwd: ::prost::alloc::vec::Vec<u8>,
    /// The whole environment of the wrapper.
    #[prost(message, repeated, tag = "4")]
    pub env: ::prost::alloc::vec::Vec<EnvVar>,
    /// argv\[0\] as the build spelled it.
    #[prost(bytes = "vec", tag = "5")]
    pub argv0: ::prost::alloc::vec::Vec<u8>,
    #[prost(bool, tag = "6")]
    pub stderr_is_tty: bool,
    /// When the wrapper started (the day of `__DATE__`; the Rust side's
    /// too-new guard, and the C side's when a Store has no `spawn_unix_ns`).
    #[prost(uint64, tag = "7")]
    pub start_unix_ns: u64,
    // Tag 8 is reserved: `file_mode` of protocol 1.
    /// Answers to a Probe reply, sent with the same Lookup again.
    #[prost(message, repeated, tag = "9")]
    pub probes: ::prost::alloc::vec::Vec<ProbeResult>,
    /// Set exactly when `stderr_is_tty`: what the wrapper measured.
    #[prost(message, optional, tag = "10")]
    pub terminal: ::core::option::Option<Terminal>,
}

/// The terminal facts of a caller whose stderr is a terminal that the
/// environment does not show (the environment travels in `Lookup.env`).
#[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
pub struct Terminal {
    /// `TIOCGWINSZ` columns of fd 0; 0: not a terminal or unknown.
    #[prost(uint32, tag = "1")]
    pub stdin_columns: u32,
    /// `TIOCGWINSZ` columns of fd 2; 0: unknown.
    #[prost(uint32, tag = "2")]
    pub stderr_columns: u32,
}

/// One compiler run the daemon asked for, as the wrapper saw it.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ProbeResult {
    /// argv\[1..\] of the run, as asked.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub args: ::prost::alloc::vec::Vec<::prost::alloc::vec::Vec<u8>>,
    #[prost(int32, tag = "2")]
    pub exit_code: i32,
    #[prost(bytes = "vec", tag = "3")]
    pub stdout: ::prost::alloc::vec::Vec<u8>,
    /// What the run printed on stderr (`-E -v` prints its search list there).
    #[prost(bytes = "vec", tag = "4")]
    pub stderr: ::prost::alloc::vec::Vec<u8>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct LookupReply {
    #[prost(oneof = "lookup_reply::Outcome", tags = "1, 2, 3")]
    pub outcome: ::core::option::Option<lookup_reply::Outcome>,
}

/// Nested types of [`LookupReply`].
pub mod lookup_reply {
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Outcome {
        /// Whole invocation: run the compiler unchanged.
        #[prost(message, tag = "1")]
        Passthrough(super::Passthrough),
        /// One answer per source file, in source order.
        #[prost(message, tag = "2")]
        Units(super::Units),
        /// Run these, then send the same Lookup again with the results.
        #[prost(message, tag = "3")]
        Probe(super::Probe),
    }
}

/// The daemon needs facts only the compiler can tell (`rustc -vV`): run
/// the compiler with each argv\[1..\] (stdin null, stdout captured) and
/// resend the Lookup with `probes` filled in. At most one probe round per
/// compile.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Probe {
    #[prost(message, repeated, tag = "1")]
    pub runs: ::prost::alloc::vec::Vec<ProbeRun>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ProbeRun {
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub args: ::prost::alloc::vec::Vec<::prost::alloc::vec::Vec<u8>>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Units {
    #[prost(message, repeated, tag = "1")]
    pub units: ::prost::alloc::vec::Vec<UnitAnswer>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct UnitAnswer {
    #[prost(oneof = "unit_answer::Answer", tags = "1, 2")]
    pub answer: ::core::option::Option<unit_answer::Answer>,
}

/// Nested types of [`UnitAnswer`].
pub mod unit_answer {
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Answer {
        #[prost(message, tag = "1")]
        Hit(super::Hit),
        #[prost(message, tag = "2")]
        Miss(super::Miss),
    }
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Passthrough {
    /// A ccache-style counter name.
    #[prost(string, tag = "1")]
    pub reason: ::prost::alloc::string::String,
    #[prost(string, tag = "2")]
    pub detail: ::prost::alloc::string::String,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Hit {
    #[prost(bytes = "vec", tag = "1")]
    pub stdout: ::prost::alloc::vec::Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub stderr: ::prost::alloc::vec::Vec<u8>,
    #[prost(int32, tag = "3")]
    pub exit_code: i32,
    /// The wrapper writes every one before replaying the streams.
    #[prost(message, repeated, tag = "4")]
    pub outputs: ::prost::alloc::vec::Vec<Output>,
    /// Names the stored entry, for an [`Undelivered`] report.
    #[prost(bytes = "vec", tag = "5")]
    pub entry: ::prost::alloc::vec::Vec<u8>,
}

/// One output of a hit, written by the wrapper exactly as the compiler
/// would.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Output {
    /// Absolute, or relative to the Lookup's cwd.
    #[prost(bytes = "vec", tag = "1")]
    pub path: ::prost::alloc::vec::Vec<u8>,
    #[prost(enumeration = "WriteMode", tag = "2")]
    pub write: i32,
    #[prost(uint64, tag = "3")]
    pub size: u64,
    /// blake3 of the content; checked by whoever reads the bytes.
    #[prost(bytes = "vec", tag = "4")]
    pub digest: ::prost::alloc::vec::Vec<u8>,
    /// The bytes themselves, when `descriptor` is 0.
    #[prost(bytes = "vec", tag = "5")]
    pub content: ::prost::alloc::vec::Vec<u8>,
    /// n > 0: the content is the n-th descriptor (`SCM_RIGHTS`, read-only)
    /// that came with the frame of this reply.
    #[prost(uint32, tag = "6")]
    pub descriptor: u32,
}

/// How a compiler opens its output (the path may be a symlink).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum WriteMode {
    /// Temporary file beside, renamed over the name (clang, rustc).
    Replace = 0,
    /// As `Replace`, but through a dangling symlink (gcc's assembler).
    ReplaceUnlessDangling = 1,
    /// Open and truncate through a symlink (depfiles, gcc -S, .gcno).
    WriteThrough = 2,
    /// As `Replace`, created executable (0777 less the umask): what a
    /// linker writes. A wrapper that does not know it compiles instead.
    ReplaceExecutable = 3,
}

impl WriteMode {
    /// The name of the value as it appears in the `.proto`.
    pub fn as_str_name(&self) -> &'static str {
        match self {
            Self::Replace => "REPLACE",
            Self::ReplaceUnlessDangling => "REPLACE_UNLESS_DANGLING",
            Self::WriteThrough => "WRITE_THROUGH",
            Self::ReplaceExecutable => "REPLACE_EXECUTABLE",
        }
    }

    /// The value named `value` in the `.proto`, if there is one.
    pub fn from_str_name(value: &str) -> Option<Self> {
        match value {
            "REPLACE" => Some(Self::Replace),
            "REPLACE_UNLESS_DANGLING" => Some(Self::ReplaceUnlessDangling),
            "REPLACE_EXECUTABLE" => Some(Self::ReplaceExecutable),
            "WRITE_THROUGH" => Some(Self::WriteThrough),
            _ => None,
        }
    }
}

/// wrapper -> daemon: the hit from `entry` was not written and the
/// compiler runs instead (never sent on the hit path). Answered with `Ack`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Undelivered {
    #[prost(bytes = "vec", tag = "1")]
    pub entry: ::prost::alloc::vec::Vec<u8>,
    /// `corrupt_output` (an output failed its digest: the daemon checks the
    /// entry and drops it if damaged), `output_to_device`,
    /// `output_not_writable`, `bad_hit_answer`, `sibling_undelivered`
    /// (another unit's hit failed).
    #[prost(string, tag = "2")]
    pub reason: ::prost::alloc::string::String,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Miss {
    #[prost(uint64, tag = "1")]
    pub token: u64,
    /// Run the compiler with exactly these argv\[1..\].
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub args: ::prost::alloc::vec::Vec<::prost::alloc::vec::Vec<u8>>,
    /// If non-empty: a dependency-only run after a successful compile.
    #[prost(bytes = "vec", repeated, tag = "3")]
    pub deps_args: ::prost::alloc::vec::Vec<::prost::alloc::vec::Vec<u8>>,
    /// Non-empty: compile, but there is nothing to Store (token is 0).
    #[prost(string, tag = "4")]
    pub no_store_reason: ::prost::alloc::string::String,
    /// Show stderr without ANSI colour (`frame::ansi::strip`); Store it as run.
    #[prost(bool, tag = "5")]
    pub strip_ansi: bool,
    /// An option the cache appended to the caller's argv; if the compile
    /// fails and its stderr names it, the compiler does not know it: show
    /// nothing, Store nothing, run the caller's own command instead.
    #[prost(string, tag = "6")]
    pub injected_option: ::prost::alloc::string::String,
    /// Show stderr line by line while the compile runs (cargo pipelines on
    /// rustc's "metadata ready" notification), not after it exits.
    #[prost(bool, tag = "7")]
    pub stream_stderr: bool,
    /// Files the cache added to the argv (private depfiles): the wrapper
    /// creates each before the compile and runs the caller's own command
    /// instead if it cannot, or if the compile fails naming one.
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub private_paths: ::prost::alloc::vec::Vec<::prost::alloc::vec::Vec<u8>>,
    /// Run the compiler with stderr on a pseudo-terminal of the caller's
    /// size (raw mode; stdin, stdout and the controlling terminal stay the
    /// caller's) and capture it there; if none can be opened, store nothing.
    #[prost(bool, tag = "9")]
    pub stderr_pty: bool,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Store {
    #[prost(uint64, tag = "1")]
    pub token: u64,
    #[prost(int32, tag = "2")]
    pub exit_code: i32,
    #[prost(bytes = "vec", tag = "3")]
    pub stdout: ::prost::alloc::vec::Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub stderr: ::prost::alloc::vec::Vec<u8>,
    #[prost(int32, tag = "5")]
    pub deps_exit_code: i32,
    /// CLOCK_REALTIME_COARSE (the clock file times are stamped from) read
    /// right before the compiler was spawned; an input written at or after
    /// it may differ from what the compiler read. 0: unknown.
    #[prost(uint64, tag = "6")]
    pub spawn_unix_ns: u64,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct StoreReply {
    #[prost(bool, tag = "1")]
    pub stored: bool,
    /// Why not, when not stored.
    #[prost(string, tag = "2")]
    pub reason: ::prost::alloc::string::String,
}

/// wrapper -> broker.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Route {
    /// Canonical.
    #[prost(bytes = "vec", tag = "1")]
    pub cache_root: ::prost::alloc::vec::Vec<u8>,
    #[prost(string, tag = "2")]
    pub namespace: ::prost::alloc::string::String,
    #[prost(uint32, tag = "3")]
    pub client_protocol_version: u32,
    /// For a daemon the broker starts on this Route (ignored when one
    /// runs): the config files it reads, lowest precedence first.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub config_files: ::prost::alloc::vec::Vec<::prost::alloc::vec::Vec<u8>>,
    /// Settings the wrapper's environment sets (name: the config key, value
    /// as a file would spell it); they override the files.
    #[prost(message, repeated, tag = "5")]
    pub daemon_settings: ::prost::alloc::vec::Vec<EnvVar>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RouteReply {
    #[prost(bytes = "vec", tag = "1")]
    pub endpoint: ::prost::alloc::vec::Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub daemon_pid: u32,
    /// Set: no daemon for this root, compile directly; a reason name
    /// (`foreign_cache_root`, `daemon_backoff`). The endpoint is then empty.
    #[prost(string, tag = "3")]
    pub refused: ::prost::alloc::string::String,
    /// With `refused`: one line saying why, for people.
    #[prost(string, tag = "4")]
    pub detail: ::prost::alloc::string::String,
    /// With `refused`: the first such refusal for this root and namespace
    /// since the broker started; the wrapper shows `detail` once.
    #[prost(bool, tag = "5")]
    pub announce: bool,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct StatusRequest {
    /// To the broker: every daemon it knows.
    #[prost(bool, tag = "1")]
    pub all: bool,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct StatusReply {
    /// One status object (a daemon) or an array (the broker).
    #[prost(string, tag = "1")]
    pub json: ::prost::alloc::string::String,
    /// From the broker: an array of `{cache_root, namespace, refused,
    /// detail}` for the roots it routes no daemon for.
    #[prost(string, tag = "2")]
    pub refusals_json: ::prost::alloc::string::String,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ClearRequest {}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ZeroStatsRequest {}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ReleaseHandlesRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub path: ::prost::alloc::vec::Vec<u8>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ReleaseHandlesReply {
    #[prost(string, tag = "1")]
    pub json: ::prost::alloc::string::String,
    #[prost(bool, tag = "2")]
    pub all_released: bool,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ShutdownRequest {
    /// To the broker: every daemon first, then itself.
    #[prost(bool, tag = "1")]
    pub all: bool,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Ack {}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Error {
    #[prost(string, tag = "1")]
    pub message: ::prost::alloc::string::String,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct VersionMismatch {
    #[prost(uint32, tag = "1")]
    pub expected: u32,
    #[prost(uint32, tag = "2")]
    pub received: u32,
    #[prost(string, tag = "3")]
    pub peer_version_string: ::prost::alloc::string::String,
}

impl Request {
    /// A request with `body`, stamped with our [`crate::PROTOCOL_VERSION`].
    pub fn new(body: request::Body) -> Self {
        Self {
            protocol_version: crate::PROTOCOL_VERSION,
            body: Some(body),
        }
    }
}

impl Response {
    pub fn new(body: response::Body) -> Self {
        Self { body: Some(body) }
    }

    pub fn ack() -> Self {
        Self::new(response::Body::Ack(Ack {}))
    }

    pub fn error(message: impl Into<String>) -> Self {
        Self::new(response::Body::Error(Error {
            message: message.into(),
        }))
    }

    pub fn version_mismatch(mismatch: VersionMismatch) -> Self {
        Self::new(response::Body::VersionMismatch(mismatch))
    }
}

impl VersionMismatch {
    /// True when the side that sent the request speaks the older protocol,
    /// so the fix is to upgrade (or restart) the sender rather than the
    /// receiver.
    pub fn sender_is_older(&self) -> bool {
        self.received < self.expected
    }
}
