//! Proves `envelope` and `v1` agree with `proto/*.proto` tag for tag, by parsing the `.proto` text; it understands only the proto3 subset those files use.
//!
//! For every field the `.proto` declares, a Rust value with only that field
//! set is encoded and its first key is decoded: the tag and wire type must
//! be the declared ones, and the Rust type must be the declared type. The
//! field lists are compared both ways (the Rust side read from each type's
//! `Debug`), as are message and enum names and enum values.

use std::collections::BTreeSet;
use std::fmt::Debug;

use prost::encoding::{decode_key, WireType};
use prost::Message;

use crate::envelope::{Frame, Kind, PayloadEncoding};
use crate::v1::*;

const ENVELOPE_PROTO: &str = include_str!("../../proto/envelope.proto");
const ZCCACHE_PROTO: &str = include_str!("../../proto/zccache.proto");

// ---- the .proto side ----

#[derive(Debug, Default)]
struct Proto {
    package: String,
    messages: Vec<ProtoMessage>,
    enums: Vec<ProtoEnum>,
}

#[derive(Debug)]
struct ProtoMessage {
    name: String,
    fields: Vec<ProtoField>,
}

#[derive(Debug, Clone)]
struct ProtoField {
    name: String,
    /// The declared type, with "repeated " in front when repeated.
    ty: String,
    tag: u32,
    oneof: Option<String>,
}

#[derive(Debug)]
struct ProtoEnum {
    name: String,
    values: Vec<(String, i32)>,
}

enum Scope {
    Message,
    Oneof(String),
    Enum,
}

/// A line parser for the subset of proto3 our files use: one declaration
/// per line, no nested messages, `//` comments. Anything else panics, so an
/// edit to the `.proto` that this parser would misread cannot pass quietly.
fn parse_proto(text: &str) -> Proto {
    let mut proto = Proto::default();
    let mut scopes: Vec<Scope> = Vec::new();
    for (number, raw_line) in text.lines().enumerate() {
        let line = raw_line.split("//").next().unwrap().trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        macro_rules! bad {
            () => {
                panic!("proto line {}: cannot parse {raw_line:?}", number + 1)
            };
        }
        match words.as_slice() {
            [] => {}
            ["syntax", "=", "\"proto3\";"] => {}
            ["package", name] => proto.package = name.trim_end_matches(';').to_owned(),
            ["message", name, "{"] => {
                assert!(scopes.is_empty(), "nested message {name}");
                proto.messages.push(ProtoMessage {
                    name: (*name).to_owned(),
                    fields: Vec::new(),
                });
                scopes.push(Scope::Message);
            }
            ["message", name, "{}"] => {
                assert!(scopes.is_empty(), "nested message {name}");
                proto.messages.push(ProtoMessage {
                    name: (*name).to_owned(),
                    fields: Vec::new(),
                });
            }
            ["enum", name, "{"] => {
                assert!(scopes.is_empty(), "nested enum {name}");
                proto.enums.push(ProtoEnum {
                    name: (*name).to_owned(),
                    values: Vec::new(),
                });
                scopes.push(Scope::Enum);
            }
            ["oneof", name, "{"] => {
                assert!(
                    matches!(scopes.as_slice(), [Scope::Message]),
                    "oneof outside a message"
                );
                scopes.push(Scope::Oneof((*name).to_owned()));
            }
            ["}"] => {
                scopes.pop().unwrap_or_else(|| bad!());
            }
            ["reserved", ..] => {}
            [name, "=", value] if matches!(scopes.last(), Some(Scope::Enum)) => {
                let value = value
                    .strip_suffix(';')
                    .unwrap_or_else(|| bad!())
                    .parse()
                    .unwrap_or_else(|_| bad!());
                proto
                    .enums
                    .last_mut()
                    .unwrap()
                    .values
                    .push(((*name).to_owned(), value));
            }
            [.., name, "=", tag] => {
                let ty = match &words[..words.len() - 3] {
                    [ty] => (*ty).to_owned(),
                    ["repeated", ty] => format!("repeated {ty}"),
                    _ => bad!(),
                };
                let tag = tag
                    .strip_suffix(';')
                    .unwrap_or_else(|| bad!())
                    .parse()
                    .unwrap_or_else(|_| bad!());
                let oneof = match scopes.last() {
                    Some(Scope::Message) => None,
                    Some(Scope::Oneof(oneof)) => Some(oneof.clone()),
                    _ => bad!(),
                };
                let field = ProtoField {
                    name: (*name).to_owned(),
                    ty,
                    tag,
                    oneof,
                };
                proto.messages.last_mut().unwrap().fields.push(field);
            }
            _ => bad!(),
        }
    }
    assert!(scopes.is_empty(), "unclosed block at end of file");
    proto
}

// ---- the Rust side ----

/// A message type, named as in the `.proto` (taken from the Rust ident).
trait Msg: Message + Default + Debug {
    const NAME: &'static str;
}

/// The `.proto` type a Rust field type stands for, and a non-default value.
trait ProtoType: Sized {
    fn proto_type() -> String;
    fn sample() -> Self;
}

macro_rules! scalar {
    ($($rust:ty => $proto:literal, $sample:expr;)*) => {$(
        impl ProtoType for $rust {
            fn proto_type() -> String {
                $proto.to_owned()
            }
            fn sample() -> Self {
                $sample
            }
        }
    )*};
}

scalar! {
    u32 => "uint32", 1;
    u64 => "uint64", 1;
    // Also the Rust type of enum fields; those are told apart by `Debug`.
    i32 => "int32", 1;
    bool => "bool", true;
    String => "string", "x".to_owned();
    Vec<u8> => "bytes", b"x".to_vec();
    Vec<Vec<u8>> => "repeated bytes", vec![b"x".to_vec()];
}

impl<M: Msg> ProtoType for Option<M> {
    fn proto_type() -> String {
        M::NAME.to_owned()
    }
    fn sample() -> Self {
        Some(M::default())
    }
}

impl<M: Msg> ProtoType for Vec<M> {
    fn proto_type() -> String {
        format!("repeated {}", M::NAME)
    }
    fn sample() -> Self {
        vec![M::default()]
    }
}

fn proto_type_of<T: ProtoType>(_: &T) -> String {
    T::proto_type()
}

/// One Rust field (or oneof variant) with only it set, encoded.
#[derive(Debug)]
struct Row {
    message: &'static str,
    field: String,
    rust_type: String,
    /// (oneof field, nested module, enum) as spelled in Rust.
    oneof: Option<(&'static str, &'static str, &'static str)>,
    encoded: Vec<u8>,
    debug: String,
}

macro_rules! field {
    ($msg:ident . $field:ident) => {{
        let mut value = $msg::default();
        value.$field = ProtoType::sample();
        Row {
            message: stringify!($msg),
            field: stringify!($field).to_owned(),
            rust_type: proto_type_of(&value.$field),
            oneof: None,
            encoded: value.encode_to_vec(),
            debug: format!("{value:?}"),
        }
    }};
}

macro_rules! variant {
    ($msg:ident . $oneof:ident = $module:ident :: $enum:ident :: $variant:ident ( $payload:ident )) => {{
        let mut value = $msg::default();
        value.$oneof = Some($module::$enum::$variant($payload::default()));
        Row {
            message: stringify!($msg),
            field: snake(stringify!($variant)),
            rust_type: <$payload as Msg>::NAME.to_owned(),
            oneof: Some((stringify!($oneof), stringify!($module), stringify!($enum))),
            encoded: value.encode_to_vec(),
            debug: format!("{value:?}"),
        }
    }};
}

/// Implements `Msg` for each type and defines `$list`, returning (name,
/// `Debug` of its default) for each.
macro_rules! messages {
    ($list:ident: $($msg:ident),* $(,)?) => {
        $(impl Msg for $msg {
            const NAME: &'static str = stringify!($msg);
        })*

        fn $list() -> Vec<(&'static str, String)> {
            vec![$((stringify!($msg), format!("{:?}", $msg::default()))),*]
        }
    };
}

messages!(envelope_messages: Frame);

messages!(
    v1_messages: Request, Response, EnvVar, Lookup, LookupReply, Units, UnitAnswer, Passthrough,
    Hit, Miss, Store, StoreReply, Route, RouteReply, StatusRequest, StatusReply, ClearRequest,
    ZeroStatsRequest, ReleaseHandlesRequest, ReleaseHandlesReply, ShutdownRequest, Ack, Error,
    VersionMismatch, ProbeResult, Probe, ProbeRun, Output, Undelivered, Terminal,
);

fn envelope_rows() -> Vec<Row> {
    vec![
        field!(Frame.envelope_version),
        field!(Frame.kind),
        field!(Frame.payload_protocol),
        field!(Frame.payload),
        field!(Frame.request_id),
        field!(Frame.payload_encoding),
        field!(Frame.deadline_unix_ms),
    ]
}

fn v1_rows() -> Vec<Row> {
    vec![
        field!(Request.protocol_version),
        variant!(Request.body = request::Body::Lookup(Lookup)),
        variant!(Request.body = request::Body::Store(Store)),
        variant!(Request.body = request::Body::Route(Route)),
        variant!(Request.body = request::Body::Status(StatusRequest)),
        variant!(Request.body = request::Body::Clear(ClearRequest)),
        variant!(Request.body = request::Body::ZeroStats(ZeroStatsRequest)),
        variant!(Request.body = request::Body::ReleaseHandles(ReleaseHandlesRequest)),
        variant!(Request.body = request::Body::Shutdown(ShutdownRequest)),
        variant!(Request.body = request::Body::Undelivered(Undelivered)),
        variant!(Response.body = response::Body::Lookup(LookupReply)),
        variant!(Response.body = response::Body::Store(StoreReply)),
        variant!(Response.body = response::Body::Route(RouteReply)),
        variant!(Response.body = response::Body::Status(StatusReply)),
        variant!(Response.body = response::Body::Ack(Ack)),
        variant!(Response.body = response::Body::ReleaseHandles(ReleaseHandlesReply)),
        variant!(Response.body = response::Body::Error(Error)),
        variant!(Response.body = response::Body::VersionMismatch(VersionMismatch)),
        field!(EnvVar.name),
        field!(EnvVar.value),
        field!(Lookup.compiler),
        field!(Lookup.args),
        field!(Lookup.cwd),
        field!(Lookup.env),
        field!(Lookup.argv0),
        field!(Lookup.stderr_is_tty),
        field!(Lookup.start_unix_ns),
        field!(Lookup.probes),
        field!(Lookup.terminal),
        field!(Terminal.stdin_columns),
        field!(Terminal.stderr_columns),
        field!(ProbeResult.args),
        field!(ProbeResult.exit_code),
        field!(ProbeResult.stdout),
        field!(ProbeResult.stderr),
        variant!(LookupReply.outcome = lookup_reply::Outcome::Passthrough(Passthrough)),
        variant!(LookupReply.outcome = lookup_reply::Outcome::Units(Units)),
        variant!(LookupReply.outcome = lookup_reply::Outcome::Probe(Probe)),
        field!(Probe.runs),
        field!(ProbeRun.args),
        field!(Units.units),
        variant!(UnitAnswer.answer = unit_answer::Answer::Hit(Hit)),
        variant!(UnitAnswer.answer = unit_answer::Answer::Miss(Miss)),
        field!(Passthrough.reason),
        field!(Passthrough.detail),
        field!(Hit.stdout),
        field!(Hit.stderr),
        field!(Hit.exit_code),
        field!(Hit.outputs),
        field!(Hit.entry),
        field!(Output.path),
        field!(Output.write),
        field!(Output.size),
        field!(Output.digest),
        field!(Output.content),
        field!(Output.descriptor),
        field!(Undelivered.entry),
        field!(Undelivered.reason),
        field!(Miss.token),
        field!(Miss.args),
        field!(Miss.deps_args),
        field!(Miss.no_store_reason),
        field!(Miss.strip_ansi),
        field!(Miss.injected_option),
        field!(Miss.stream_stderr),
        field!(Miss.private_paths),
        field!(Miss.stderr_pty),
        field!(Store.token),
        field!(Store.exit_code),
        field!(Store.stdout),
        field!(Store.stderr),
        field!(Store.deps_exit_code),
        field!(Store.spawn_unix_ns),
        field!(StoreReply.stored),
        field!(StoreReply.reason),
        field!(Route.cache_root),
        field!(Route.namespace),
        field!(Route.client_protocol_version),
        field!(Route.config_files),
        field!(Route.daemon_settings),
        field!(RouteReply.endpoint),
        field!(RouteReply.daemon_pid),
        field!(RouteReply.refused),
        field!(RouteReply.detail),
        field!(RouteReply.announce),
        field!(StatusRequest.all),
        field!(StatusReply.json),
        field!(StatusReply.refusals_json),
        field!(ReleaseHandlesRequest.path),
        field!(ReleaseHandlesReply.json),
        field!(ReleaseHandlesReply.all_released),
        field!(ShutdownRequest.all),
        field!(Error.message),
        field!(VersionMismatch.expected),
        field!(VersionMismatch.received),
        field!(VersionMismatch.peer_version_string),
    ]
}

/// Checks one enum against the `.proto`: names, values, and no extra values.
macro_rules! check_enum {
    ($proto:expr, $rust:ident) => {{
        let declared = $proto.enums.iter().find(|e| e.name == stringify!($rust));
        let declared =
            declared.unwrap_or_else(|| panic!("enum {} is not in the .proto", stringify!($rust)));
        for (name, value) in &declared.values {
            let rust = $rust::try_from(*value)
                .unwrap_or_else(|_| panic!("{name} = {value} missing in Rust"));
            assert_eq!(rust.as_str_name(), name);
            assert_eq!($rust::from_str_name(name), Some(rust));
            assert_eq!(
                format!("{rust:?}"),
                camel(name),
                "prost-build's variant name for {name}"
            );
        }
        let max = declared.values.iter().map(|(_, v)| *v).max().unwrap();
        for value in -1..=max + 1 {
            let in_proto = declared.values.iter().any(|(_, v)| *v == value);
            assert_eq!(
                $rust::try_from(value).is_ok(),
                in_proto,
                "{} value {value}",
                stringify!($rust)
            );
        }
        stringify!($rust).to_owned()
    }};
}

// ---- the comparison ----

fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn camel(snake_or_upper: &str) -> String {
    snake_or_upper
        .split('_')
        .map(|word| {
            let lower = word.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Field names as the derived `Debug` of a default value lists them.
fn debug_field_names(debug: &str) -> BTreeSet<String> {
    let Some((_, inner)) = debug.split_once(" { ") else {
        return BTreeSet::new();
    };
    let inner = inner.strip_suffix(" }").expect("a flat default value");
    inner
        .split(", ")
        .map(|part| part.split_once(": ").unwrap().0.to_owned())
        .collect()
}

fn wire_type_of(proto_type: &str, proto: &Proto) -> WireType {
    match proto_type {
        "uint32" | "uint64" | "int32" | "bool" => WireType::Varint,
        "string" | "bytes" => WireType::LengthDelimited,
        ty if proto.enums.iter().any(|e| e.name == ty) => WireType::Varint,
        ty if proto.messages.iter().any(|m| m.name == ty) => WireType::LengthDelimited,
        ty => panic!("type {ty} is not understood by this test; teach it before using the type"),
    }
}

#[track_caller]
fn check(
    proto: &Proto,
    module: &str,
    messages: &[(&'static str, String)],
    rows: &[Row],
    enums: &[String],
) {
    assert_eq!(proto.package, format!("zccache.{module}"));

    let proto_enums: BTreeSet<_> = proto.enums.iter().map(|e| e.name.clone()).collect();
    assert_eq!(
        proto_enums,
        enums.iter().cloned().collect(),
        "enums of {module}"
    );

    let proto_messages: BTreeSet<_> = proto.messages.iter().map(|m| m.name.clone()).collect();
    let rust_messages: BTreeSet<_> = messages
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    assert_eq!(proto_messages, rust_messages, "messages of {module}");

    // Every Rust struct has exactly the fields (and oneofs) the .proto declares.
    for (name, debug) in messages {
        let declared = &proto
            .messages
            .iter()
            .find(|m| m.name == *name)
            .unwrap()
            .fields;
        let expected: BTreeSet<_> = declared
            .iter()
            .map(|f| f.oneof.clone().unwrap_or_else(|| f.name.clone()))
            .collect();
        assert_eq!(debug_field_names(debug), expected, "fields of {name}");
    }

    // The rows cover exactly the declared fields ...
    let declared: BTreeSet<_> = proto
        .messages
        .iter()
        .flat_map(|m| m.fields.iter().map(|f| (m.name.clone(), f.name.clone())))
        .collect();
    let covered: BTreeSet<_> = rows
        .iter()
        .map(|r| (r.message.to_owned(), r.field.clone()))
        .collect();
    assert_eq!(declared, covered, "fields checked in {module}");

    // ... and each one agrees on tag, wire type, Rust type and oneof.
    for row in rows {
        let message = proto
            .messages
            .iter()
            .find(|m| m.name == row.message)
            .unwrap();
        let field = message.fields.iter().find(|f| f.name == row.field).unwrap();
        let what = format!("{}.{}", row.message, row.field);

        let (tag, wire_type) = decode_key(&mut row.encoded.as_slice()).unwrap();
        assert_eq!(tag, field.tag, "tag of {what}");
        let declared_ty = field.ty.trim_start_matches("repeated ");
        assert_eq!(
            wire_type,
            wire_type_of(declared_ty, proto),
            "wire type of {what}"
        );

        if enums.iter().any(|e| e == &field.ty) {
            assert_eq!(
                row.rust_type, "int32",
                "{what} is an enum field, an i32 in Rust"
            );
            let proto_enum = proto.enums.iter().find(|e| e.name == field.ty).unwrap();
            let one = &proto_enum.values.iter().find(|(_, v)| *v == 1).unwrap().0;
            let shown = format!("{}: {}", row.field, camel(one));
            assert!(
                row.debug.contains(&shown),
                "{what} should be an enumeration of {}: {}",
                field.ty,
                row.debug
            );
        } else {
            assert_eq!(row.rust_type, field.ty, "type of {what}");
        }

        match (&row.oneof, &field.oneof) {
            (None, None) => {}
            (Some((oneof, module, enum_name)), Some(declared)) => {
                assert_eq!(oneof, declared, "oneof of {what}");
                assert_eq!(*module, snake(row.message), "module of {what}");
                assert_eq!(*enum_name, camel(declared), "oneof enum of {what}");
            }
            _ => panic!(
                "{what}: oneof membership differs: {:?} vs {:?}",
                row.oneof, field.oneof
            ),
        }
    }
}

#[test]
fn envelope_matches_proto() {
    let proto = parse_proto(ENVELOPE_PROTO);
    let enums = vec![
        check_enum!(proto, Kind),
        check_enum!(proto, PayloadEncoding),
    ];
    check(
        &proto,
        "envelope",
        &envelope_messages(),
        &envelope_rows(),
        &enums,
    );
}

#[test]
fn v1_matches_proto() {
    let proto = parse_proto(ZCCACHE_PROTO);
    let enums = vec![check_enum!(proto, WriteMode)];
    check(&proto, "v1", &v1_messages(), &v1_rows(), &enums);
}

#[test]
fn parser_reads_what_it_is_given() {
    let proto = parse_proto(
        "syntax = \"proto3\";\npackage a.b;\nenum E {\n  X = 0; // c\n  Y = 2;\n}\n\
         message M {\n  repeated bytes f = 3;\n  oneof o {\n    M g = 4;\n  }\n  reserved 5;\n}\nmessage N {}\n",
    );
    assert_eq!(proto.package, "a.b");
    assert_eq!(
        proto.enums[0].values,
        vec![("X".to_owned(), 0), ("Y".to_owned(), 2)]
    );
    let m = &proto.messages[0];
    assert_eq!(
        (
            m.fields[0].ty.as_str(),
            m.fields[0].tag,
            m.fields[0].oneof.as_deref()
        ),
        ("repeated bytes", 3, None)
    );
    assert_eq!(
        (
            m.fields[1].ty.as_str(),
            m.fields[1].tag,
            m.fields[1].oneof.as_deref()
        ),
        ("M", 4, Some("o"))
    );
    assert_eq!(proto.messages[1].name, "N");
    assert!(proto.messages[1].fields.is_empty());
}
