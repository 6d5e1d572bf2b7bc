//! The `bootstrap` inside a Lambda deployment package, as `cargo lambda build --output-format zip`
//! writes it (`target/lambda/<name>/bootstrap.zip`): found through the archive's central
//! directory, stored or deflated, checked against its CRC-32.
//!
//! Only what a deployment package uses is read: no encryption, no multi-disk archives, no ZIP64
//! (Lambda refuses packages over 250 MB unzipped, far below ZIP64's 4 GB).

use flate2::read::DeflateDecoder;
use std::io::Read;

/// The file Lambda's custom runtimes (`provided.al2023`) execute, at the root of the package.
pub const BOOTSTRAP: &str = "bootstrap";

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
/// The end record's fixed part; a comment of up to 65,535 bytes may follow it.
const END_RECORD_LEN: usize = 22;
/// Lambda's limit for a function's unzipped code: a larger entry is refused before it is inflated.
const LAMBDA_UNZIPPED_LIMIT: u32 = 262_144_000;
const STORED: u16 = 0;
const DEFLATED: u16 = 8;

/// Whether `bytes` are a zip archive (they start with a local file header).
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(&LOCAL_HEADER.to_le_bytes())
}

/// Why the bootstrap could not be taken out of a zip archive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipError {
    /// Truncated, or not a zip archive after all.
    #[error("not a readable zip archive ({0})")]
    Malformed(&'static str),
    /// The package has no `bootstrap` at its root.
    #[error(
        "the zip has no `bootstrap` at its root (it holds: {0}); a Lambda custom runtime runs \
         /var/task/bootstrap: build it with `cargo lambda build --output-format zip`"
    )]
    NoBootstrap(String),
    /// A compression method other than stored or deflated, or an encrypted entry.
    #[error(
        "`bootstrap` in the zip is {0}; only stored and deflated entries are read (as cargo \
         lambda writes them): inspect the unzipped bootstrap instead"
    )]
    Unsupported(String),
    /// The data does not match the size or CRC-32 the archive records.
    #[error("`bootstrap` in the zip is corrupt ({0}); rebuild the package")]
    Corrupt(String),
}

/// One entry of the central directory: what is needed to find and check its data.
struct Entry<'a> {
    name: &'a [u8],
    flags: u16,
    method: u16,
    crc32: u32,
    compressed_size: u32,
    uncompressed_size: u32,
    local_header_offset: u32,
}

/// The uncompressed `bootstrap` of a deployment package.
pub fn bootstrap(zip: &[u8]) -> Result<Vec<u8>, ZipError> {
    let entries = central_directory(zip)?;
    let entry = find_bootstrap(&entries)?;
    if entry.flags & 1 != 0 {
        return Err(ZipError::Unsupported("encrypted".into()));
    }
    if entry.uncompressed_size > LAMBDA_UNZIPPED_LIMIT {
        return Err(ZipError::Corrupt(format!(
            "{} bytes unzipped, more than Lambda's limit of {LAMBDA_UNZIPPED_LIMIT}",
            entry.uncompressed_size
        )));
    }
    let content = uncompress(entry, entry_data(zip, entry)?)?;
    check_integrity(entry, &content)?;
    Ok(content)
}

/// The `bootstrap` entry at the root of the package, or the refusal naming what is there.
fn find_bootstrap<'e, 'a>(entries: &'e [Entry<'a>]) -> Result<&'e Entry<'a>, ZipError> {
    if let Some(entry) = entries
        .iter()
        .find(|entry| entry.name == BOOTSTRAP.as_bytes())
    {
        return Ok(entry);
    }
    let names: Vec<String> = entries
        .iter()
        .map(|entry| String::from_utf8_lossy(entry.name).into_owned())
        .collect();
    let names = if names.is_empty() {
        "nothing".to_owned()
    } else {
        names.join(", ")
    };
    Err(ZipError::NoBootstrap(names))
}

/// The entry's `data`, stored or inflated; at most one byte past the recorded size is inflated,
/// so a bomb cannot fill memory.
fn uncompress(entry: &Entry<'_>, data: &[u8]) -> Result<Vec<u8>, ZipError> {
    match entry.method {
        STORED => Ok(data.to_vec()),
        DEFLATED => {
            let expected_len = entry.uncompressed_size as usize;
            let mut content = Vec::with_capacity(expected_len);
            DeflateDecoder::new(data)
                .take(expected_len as u64 + 1)
                .read_to_end(&mut content)
                .map_err(|error| ZipError::Corrupt(format!("deflate stream: {error}")))?;
            Ok(content)
        }
        other => Err(ZipError::Unsupported(format!(
            "compressed with method {other}"
        ))),
    }
}

/// Refuses content whose size or CRC-32 is not the one the archive records.
fn check_integrity(entry: &Entry<'_>, content: &[u8]) -> Result<(), ZipError> {
    let expected_len = entry.uncompressed_size as usize;
    if content.len() != expected_len {
        return Err(ZipError::Corrupt(format!(
            "{} bytes where the archive records {expected_len}",
            content.len()
        )));
    }
    let mut crc = flate2::Crc::new();
    crc.update(content);
    if crc.sum() != entry.crc32 {
        return Err(ZipError::Corrupt(format!(
            "CRC-32 {:08x} where the archive records {:08x}",
            crc.sum(),
            entry.crc32
        )));
    }
    Ok(())
}

/// The entries listed by the central directory, which (unlike the local headers, which may
/// defer sizes to a data descriptor) always carries each entry's sizes and CRC-32.
fn central_directory(zip: &[u8]) -> Result<Vec<Entry<'_>>, ZipError> {
    let end = find_end_record(zip)?;
    let entry_count = u16_at(zip, end + 10)?;
    let directory_len = u32_at(zip, end + 12)? as usize;
    let directory_offset = u32_at(zip, end + 16)? as usize;
    if entry_count == u16::MAX || directory_offset == u32::MAX as usize {
        return Err(ZipError::Malformed(
            "ZIP64, which a Lambda package never needs",
        ));
    }
    let directory = zip
        .get(directory_offset..directory_offset + directory_len)
        .ok_or(ZipError::Malformed("central directory out of bounds"))?;
    let mut entries = Vec::with_capacity(entry_count.into());
    let mut at = 0;
    for _ in 0..entry_count {
        if u32_at(directory, at)? != CENTRAL_HEADER {
            return Err(ZipError::Malformed("bad central directory entry"));
        }
        let name_len = u16_at(directory, at + 28)? as usize;
        let extra_len = u16_at(directory, at + 30)? as usize;
        let comment_len = u16_at(directory, at + 32)? as usize;
        let name = directory
            .get(at + 46..at + 46 + name_len)
            .ok_or(ZipError::Malformed("entry name out of bounds"))?;
        entries.push(Entry {
            name,
            flags: u16_at(directory, at + 8)?,
            method: u16_at(directory, at + 10)?,
            crc32: u32_at(directory, at + 16)?,
            compressed_size: u32_at(directory, at + 20)?,
            uncompressed_size: u32_at(directory, at + 24)?,
            local_header_offset: u32_at(directory, at + 42)?,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(entries)
}

/// The end of central directory record: the last signature that leaves room for the record and
/// its comment.
fn find_end_record(zip: &[u8]) -> Result<usize, ZipError> {
    let last_start = zip
        .len()
        .checked_sub(END_RECORD_LEN)
        .ok_or(ZipError::Malformed("too short"))?;
    let first_start = last_start.saturating_sub(u16::MAX as usize);
    (first_start..=last_start)
        .rev()
        .find(|&at| {
            u32_at(zip, at) == Ok(END_OF_CENTRAL_DIRECTORY)
                && u16_at(zip, at + 20)
                    .is_ok_and(|comment| at + END_RECORD_LEN + comment as usize == zip.len())
        })
        .ok_or(ZipError::Malformed("no end of central directory record"))
}

/// The entry's stored bytes, after its local header (whose name and extra field lengths may
/// differ from the central directory's).
fn entry_data<'a>(zip: &'a [u8], entry: &Entry<'_>) -> Result<&'a [u8], ZipError> {
    let header = entry.local_header_offset as usize;
    if u32_at(zip, header)? != LOCAL_HEADER {
        return Err(ZipError::Malformed("bad local header"));
    }
    let name_len = u16_at(zip, header + 26)? as usize;
    let extra_len = u16_at(zip, header + 28)? as usize;
    let start = header + 30 + name_len + extra_len;
    zip.get(start..start + entry.compressed_size as usize)
        .ok_or(ZipError::Malformed("entry data out of bounds"))
}

fn u16_at(bytes: &[u8], at: usize) -> Result<u16, ZipError> {
    bytes
        .get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or(ZipError::Malformed("truncated"))
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, ZipError> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(ZipError::Malformed("truncated"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-entry archive with a stored entry, laid out as the format says (the packages real
    /// writers make are read in `tests/tests/lambda_package.rs`, written by Python's zipfile).
    fn stored_zip(name: &str, content: &[u8]) -> Vec<u8> {
        let mut crc = flate2::Crc::new();
        crc.update(content);
        let sizes = [
            crc.sum().to_le_bytes(),
            (content.len() as u32).to_le_bytes(),
            (content.len() as u32).to_le_bytes(),
        ]
        .concat();
        let mut zip = LOCAL_HEADER.to_le_bytes().to_vec();
        zip.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, flags, method, time, date
        zip.extend(&sizes);
        zip.extend((name.len() as u16).to_le_bytes());
        zip.extend([0, 0]); // extra field length
        zip.extend(name.as_bytes());
        zip.extend(content);
        let directory_offset = zip.len() as u32;
        zip.extend(CENTRAL_HEADER.to_le_bytes());
        zip.extend([20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // versions, flags, method, time, date
        zip.extend(&sizes);
        zip.extend((name.len() as u16).to_le_bytes());
        zip.extend([0; 12]); // extra, comment, disk, internal attributes, external attributes
        zip.extend(0u32.to_le_bytes()); // local header offset
        zip.extend(name.as_bytes());
        let directory_len = zip.len() as u32 - directory_offset;
        zip.extend(END_OF_CENTRAL_DIRECTORY.to_le_bytes());
        zip.extend([0, 0, 0, 0, 1, 0, 1, 0]); // disks, entries on this disk, entries
        zip.extend(directory_len.to_le_bytes());
        zip.extend(directory_offset.to_le_bytes());
        zip.extend([0, 0]); // comment length
        zip
    }

    #[test]
    fn a_stored_bootstrap_is_read() {
        let zip = stored_zip("bootstrap", b"\x7fELF the function");
        assert!(is_zip(&zip));
        assert_eq!(bootstrap(&zip).unwrap(), b"\x7fELF the function");
    }

    #[test]
    fn a_binary_is_not_a_zip() {
        assert!(!is_zip(b"\x7fELF\x02\x01\x01"));
        assert!(!is_zip(b""));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let zip = stored_zip("bootstrap", b"\x7fELF the function");
        for len in 0..zip.len() {
            assert!(bootstrap(&zip[..len]).is_err(), "{len} bytes");
        }
    }

    #[test]
    fn a_changed_byte_fails_the_crc() {
        let mut zip = stored_zip("bootstrap", b"\x7fELF the function");
        zip[31 + "bootstrap".len()] ^= 1;
        assert!(matches!(bootstrap(&zip), Err(ZipError::Corrupt(_))));
    }

    #[test]
    fn another_entry_is_no_bootstrap() {
        let zip = stored_zip("hello/bootstrap", b"\x7fELF");
        assert_eq!(
            bootstrap(&zip),
            Err(ZipError::NoBootstrap("hello/bootstrap".into()))
        );
    }
}
