//! Lambda deployment packages (zip) made as `cargo lambda build --output-format zip` makes them —
//! the included files, then `bootstrap` (mode 755), deflated, sizes in the local headers — and in
//! the layouts other zip writers use (stored entries, data descriptors, an archive comment). They
//! are written by Python's `zipfile` (the `python3` that `scripts/setup` needs), an implementation
//! independent of the one `temporal-serverless inspect` reads them with.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// Writes a package with Python's `zipfile`; arguments as JSON.
const WRITER: &str = r#"
import io, json, sys, zipfile
spec = json.loads(sys.argv[1])

class Unseekable(io.RawIOBase):
    # A stream zipfile cannot seek back in: it then writes each entry's sizes and CRC in a data
    # descriptor after the data, as streaming writers do.
    def __init__(self):
        self.data = bytearray()
    def writable(self):
        return True
    def write(self, chunk):
        self.data += chunk
        return len(chunk)

method = zipfile.ZIP_STORED if spec["stored"] else zipfile.ZIP_DEFLATED
sink = Unseekable() if spec["streamed"] else io.BytesIO()
with zipfile.ZipFile(sink, "w", compression=method) as archive:
    for name, path in spec["entries"]:
        info = zipfile.ZipInfo(name, date_time=(2024, 6, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        info.compress_type = method
        with open(path, "rb") as source, archive.open(info, "w") as entry:
            entry.write(source.read())
    archive.comment = spec["comment"].encode()
data = sink.data if spec["streamed"] else sink.getvalue()
with open(spec["out"], "wb") as out:
    out.write(data)
"#;

/// A deployment package to write: `LambdaZip::new().file("bootstrap", binary).write(&out)`.
#[derive(Default)]
pub struct LambdaZip {
    entries: Vec<(String, PathBuf)>,
    stored: bool,
    streamed: bool,
    comment: String,
}

impl LambdaZip {
    /// An empty, deflated package.
    pub fn new() -> Self {
        Self::default()
    }

    /// The package cargo lambda makes of `binary` with `include = ["temporal.toml"]` (as
    /// `temporal-serverless new` sets it): `temporal.toml`, then `bootstrap`.
    pub fn like_cargo_lambda(binary: &Path, temporal_toml: &Path) -> Self {
        Self::new()
            .file("temporal.toml", temporal_toml)
            .file("bootstrap", binary)
    }

    /// Adds `path`'s content as `name`.
    pub fn file(mut self, name: &str, path: &Path) -> Self {
        self.entries.push((name.to_owned(), path.to_owned()));
        self
    }

    /// Entries stored, not deflated.
    pub fn stored(mut self) -> Self {
        self.stored = true;
        self
    }

    /// Written as a stream: sizes and CRCs in data descriptors after each entry's data.
    pub fn streamed(mut self) -> Self {
        self.streamed = true;
        self
    }

    /// An archive comment after the central directory.
    pub fn comment(mut self, comment: &str) -> Self {
        self.comment = comment.to_owned();
        self
    }

    /// Writes the package to `out`.
    pub fn write(&self, out: &Path) {
        let spec = serde_json::json!({
            "entries": self.entries,
            "stored": self.stored,
            "streamed": self.streamed,
            "comment": self.comment,
            "out": out,
        });
        let output = Command::new("python3")
            .args(["-c", WRITER, &spec.to_string()])
            .output()
            .expect("python3 runs (scripts/setup needs it)");
        assert!(
            output.status.success(),
            "writing {} failed: {}",
            out.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
