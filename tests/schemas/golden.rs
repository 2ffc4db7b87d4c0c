//! Golden shapes: `tests/data/golden/schemas/<file>.shape` records, per output, the schema
//! version the code writes, a fingerprint of its schema file and the shape a real run gives.
//! A shape or schema that changed while the version stayed the same is an unversioned
//! change of a file users' tools read: it fails, and `UPDATE_GOLDEN=1` refuses to record it.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// What a golden file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Golden {
    pub version: u32,
    /// `sha256` of the schema file without its prose (`fingerprint`).
    pub fingerprint: String,
    /// `Shape::lines`, or a CSV's columns.
    pub shape: Vec<String>,
}

/// How the output compares with its golden.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Same,
    /// Shape or schema changed, version did not: the failure this module exists for.
    ChangedWithoutBump,
    /// The version went up by one: record the new golden.
    Bumped,
    /// The version went down or jumped.
    BadVersion,
    Missing,
}

pub fn judge(golden: Option<&Golden>, now: &Golden) -> Verdict {
    let Some(golden) = golden else {
        return Verdict::Missing;
    };
    if now.version == golden.version {
        if now == golden {
            Verdict::Same
        } else {
            Verdict::ChangedWithoutBump
        }
    } else if now.version == golden.version + 1 {
        Verdict::Bumped
    } else {
        Verdict::BadVersion
    }
}

pub fn golden_path(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/golden/schemas")
        .join(format!("{file}.shape"))
}

pub const REGENERATE: &str = "UPDATE_GOLDEN=1 cargo test --test schemas";

fn render(file: &str, schema: &str, golden: &Golden) -> String {
    let mut text = format!(
        "# Golden shape of {file} for tests/schemas.rs: the schema version the code\n\
         # writes, the fingerprint of {schema}, then every JSON path with\n\
         # its types (a CSV: its columns). Regenerate: {REGENERATE}\n\
         # (refused unless the version was bumped).\n\
         schema_version {}\nschema_sha256 {}\n",
        golden.version, golden.fingerprint
    );
    for line in &golden.shape {
        text.push_str(line);
        text.push('\n');
    }
    text
}

fn parse(text: &str) -> Option<Golden> {
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let version = lines
        .next()?
        .strip_prefix("schema_version ")?
        .parse()
        .ok()?;
    let fingerprint = lines.next()?.strip_prefix("schema_sha256 ")?.to_owned();
    Some(Golden {
        version,
        fingerprint,
        shape: lines.map(str::to_owned).collect(),
    })
}

/// Compares `now` with the golden of `file` (whose schema is `schema`); with
/// `UPDATE_GOLDEN=1` records it where the version allows. `Err` says what to do.
pub fn check(file: &str, schema: &str, constant: &str, now: &Golden) -> Result<(), String> {
    let path = golden_path(file);
    let golden = std::fs::read_to_string(&path)
        .ok()
        .as_deref()
        .and_then(parse);
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let verdict = judge(golden.as_ref(), now);
    let write = || {
        std::fs::create_dir_all(path.parent().expect("golden dir")).expect("golden dir");
        std::fs::write(&path, render(file, schema, now)).expect("write golden");
        eprintln!("recorded {}", path.display());
    };
    match verdict {
        Verdict::Same => Ok(()),
        Verdict::ChangedWithoutBump => Err(format!(
            "{file} changed shape or schema without a version bump (still {version}):\n{diff}\n\
             Bump the schema version ({constant} in src/report/schema.rs) to {next}, update \
             {schema} (its schema_version), the history in docs/schemas/README.md and the \
             golden file {golden} ({REGENERATE}).",
            version = now.version,
            diff = diff(golden.as_ref(), now),
            next = now.version + 1,
            golden = path.display(),
        )),
        Verdict::Bumped | Verdict::Missing if update => {
            write();
            Ok(())
        }
        Verdict::Bumped | Verdict::Missing => Err(format!(
            "{file}: the golden file {} is missing or records an older version; record the \
             new shape with {REGENERATE}",
            path.display()
        )),
        Verdict::BadVersion => Err(format!(
            "{file}: version {} but the golden records {}: versions go up by one per change",
            now.version,
            golden.map_or(0, |g| g.version)
        )),
    }
}

fn diff(golden: Option<&Golden>, now: &Golden) -> String {
    let Some(golden) = golden else {
        return String::new();
    };
    let mut out = String::new();
    if golden.fingerprint != now.fingerprint {
        out.push_str("  the schema file changed (beyond its prose)\n");
    }
    for line in golden.shape.iter().filter(|l| !now.shape.contains(l)) {
        out.push_str(&format!("  - {line}\n"));
    }
    for line in now.shape.iter().filter(|l| !golden.shape.contains(l)) {
        out.push_str(&format!("  + {line}\n"));
    }
    out
}

/// `sha256` of `schema` with its prose (`title`, `description`, `$comment`, `examples`)
/// left out and keys sorted, so a reworded description is not a change but a new field, a
/// type, an enum value or a pattern is.
pub fn fingerprint(schema: &Value) -> String {
    let canonical = canonical(schema, false).to_string();
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `names`: the keys of this object are property names (under `properties`, `$defs`), never
/// keywords, so none is prose.
fn canonical(value: &Value, names: bool) -> Value {
    const PROSE: [&str; 4] = ["title", "description", "$comment", "examples"];
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map
                .keys()
                .filter(|k| names || !PROSE.contains(&k.as_str()))
                .collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                let child_names = !names && matches!(k.as_str(), "properties" | "$defs");
                out.insert(k.clone(), canonical(&map[k], child_names));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| canonical(v, false)).collect()),
        other => other.clone(),
    }
}

#[test]
fn judge_table() {
    let g = |version: u32, fingerprint: &str, shape: &[&str]| Golden {
        version,
        fingerprint: fingerprint.to_owned(),
        shape: shape.iter().map(|s| (*s).to_owned()).collect(),
    };
    let golden = g(1, "f", &["$ object", "$.a integer"]);
    let cases = [
        (
            "unchanged",
            g(1, "f", &["$ object", "$.a integer"]),
            Verdict::Same,
        ),
        (
            "field added, same version",
            g(1, "f", &["$ object", "$.a integer", "$.b string"]),
            Verdict::ChangedWithoutBump,
        ),
        (
            "type changed, same version",
            g(1, "f", &["$ object", "$.a string"]),
            Verdict::ChangedWithoutBump,
        ),
        (
            "schema changed, same version",
            g(1, "other", &["$ object", "$.a integer"]),
            Verdict::ChangedWithoutBump,
        ),
        (
            "field added, bumped",
            g(2, "other", &["$ object", "$.a integer", "$.b string"]),
            Verdict::Bumped,
        ),
        (
            "bumped alone",
            g(2, "f", &["$ object", "$.a integer"]),
            Verdict::Bumped,
        ),
        ("jumped", g(3, "f", &[]), Verdict::BadVersion),
        ("went down", g(0, "f", &[]), Verdict::BadVersion),
    ];
    for (name, now, expected) in cases {
        assert_eq!(judge(Some(&golden), &now), expected, "{name}");
    }
    assert_eq!(judge(None, &golden), Verdict::Missing);
    let text = render("x.json", "docs/schemas/x.schema.json", &golden);
    assert_eq!(parse(&text), Some(golden), "render/parse round trip");
}

#[test]
fn fingerprint_ignores_prose_and_key_order_only() {
    let base = serde_json::json!({"type": "object", "description": "a",
        "properties": {"description": {"type": "string", "title": "t"}}});
    let reworded = serde_json::json!({"properties": {"description": {"type": "string"}},
        "description": "b", "type": "object"});
    let retyped = serde_json::json!({"type": "object",
        "properties": {"description": {"type": "integer"}}});
    let dropped = serde_json::json!({"type": "object", "properties": {}});
    assert_eq!(fingerprint(&base), fingerprint(&reworded));
    assert_ne!(fingerprint(&base), fingerprint(&retyped));
    assert_ne!(
        fingerprint(&base),
        fingerprint(&dropped),
        "a field named description"
    );
}
